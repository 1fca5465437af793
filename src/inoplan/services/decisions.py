"""Each course's decision as of a day, stored when it changes and read by the Today list.

A decision depends on the course (its version), the day, and the engine, knowledge and site
policy it is computed with (``decision_store.fingerprint``). It is stored (``current_decisions``)

* by every course write, in the write's own transaction, for the day of the write
  (``records.create_course`` / ``records.append_event``);
* by :func:`refresh_decision` after a write that did not go through those (result feeds);
* by :func:`day_decisions` for every course whose stored row is missing or stale (a new day, a new
  release or knowledge revision, another site policy), all of them in ONE write transaction that
  holds the day's lock (one worker computes, the others wait and read): the first Today list of
  a day, or ``inoplan decisions refresh`` ahead of it.

Every row is sealed with a MAC under the audit key (``decision_store.seal``); a row that fails it
is never served (``DECISION_ROW_TAMPERED``, see :func:`day_decisions`).

The Today list is one query when nothing is stale, whatever the number of courses. A stale row
is never served: it is recomputed, and a course that cannot be decided any more is shown as an
error naming why, not with its old decision. Several workers agree because nothing is kept in a
process: the database holds the rows, and an upsert never replaces a row computed for a newer
course version, whichever worker writes last.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from inoplan.errors import CdsError
from inoplan.services.common import assemble_document
from inoplan.services.decision_store import (
    TAMPERED,
    acknowledges,
    decision_row_problem,
    fingerprint,
    stored_row,
    summarise,
)
from inoplan.services.records import (
    CourseRecord,
    EventRecord,
    StoredDecision,
    UowFactory,
    export_document,
    to_json_value,
)

if TYPE_CHECKING:
    from inoplan.domain.policy import SitePolicy
    from inoplan.services.render_decision import DecisionJson

__all__ = [
    "RETAIN_DAYS",
    "DayDecisions",
    "TodayDecision",
    "course_decision",
    "day_decisions",
    "prune_decisions",
    "refresh_decision",
]

log = logging.getLogger(__name__)

#: Stored decisions for days more than this before the day refreshed are deleted by
#: ``inoplan decisions refresh`` (the Today list of an older day recomputes them).
RETAIN_DAYS = 7
#: Days after today whose decisions are stored (a list of tomorrow's clinic, say); a later
#: day's list is computed when asked and not stored, so nobody can fill the store with far
#: future days that pruning (of past days) would never remove.
STORE_AHEAD_DAYS = 7


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class TodayDecision:
    """One course's decision for a day, as the Today list shows it.

    ``status`` is the decision's status, or ``"error"`` when the course cannot be decided (then
    ``error`` says why and the other fields are empty). ``recomputed`` is true when the stored row
    was missing or stale and the decision was computed for this request.
    """

    course_id: int
    course_version: int
    patient_id: str
    status: str
    reason: str = ""
    next_dose: Mapping[str, Any] | None = None
    critical: int = 0
    warnings: int = 0
    critical_codes: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    reason_rules: tuple[str, ...] = ()
    patient_name: str = ""
    acknowledged: bool = False
    error: str = ""
    recomputed: bool = False
    #: why the stored row was not trusted (its MAC), when the alert DECISION_ROW_TAMPERED is raised
    tampered: str = ""


@dataclass(frozen=True, slots=True)
class DayDecisions:
    """Every listed course's decision for ``on``: how many were read as stored, recomputed,
    undecidable, and how many stored rows failed their MAC (recomputed or errors as well)."""

    on: date
    rows: list[TodayDecision]
    fresh: int
    recomputed: int
    errors: int
    tampered: int = 0


def course_decision(
    uow_factory: UowFactory, course_id: int, on: date, *, policy: SitePolicy | None = None
) -> DecisionJson:
    """The decision for ``on`` computed from the stored course (docs/decision.md JSON)."""
    return _decide(export_document(uow_factory, course_id), on, policy)


def refresh_decision(
    uow_factory: UowFactory,
    course_id: int,
    on: date,
    *,
    policy: SitePolicy | None = None,
    clock: Any = _utc_now,
) -> str:
    """Recompute and store the course's decision for ``on`` after a write; returns its status
    (``error`` if none: nothing is stored then, and the Today list shows the error).

    A course that cannot be decided any more is not an exception here: the write has happened.
    """
    with uow_factory() as uow:
        loaded = uow.courses.many([course_id])
    if not loaded:
        return "error"
    course, events = loaded[0]
    try:
        decision = _decide(assemble_document(course, [e.data for e in events]), on, policy)
    except CdsError:
        return "error"
    with uow_factory(write=True) as uow:
        uow.current_decisions.upsert(
            [
                stored_row(
                    key=uow.audit.key(),
                    course_id=course.id,
                    course_version=course.version,
                    on=on,
                    fingerprint=fingerprint(policy),
                    decision=decision,
                    at=clock(),
                )
            ]
        )
        uow.commit()
    return decision["status"]


def _decide(document: Mapping[str, Any], on: date, policy: SitePolicy | None) -> DecisionJson:
    from inoplan.services.courses import decide_document

    kwargs = {} if policy is None else {"policy": policy}
    decision: DecisionJson = to_json_value(decide_document(document, on, **kwargs))
    return decision


def _row(
    stored: StoredDecision,
    summary: Mapping[str, Any],
    *,
    version: int | None = None,
    recomputed: bool = False,
) -> TodayDecision:
    status = str(summary["status"])
    rules = tuple(str(r) for r in summary.get("rules") or ())
    return TodayDecision(
        course_id=stored.course_id,
        course_version=stored.course_version if version is None else version,
        patient_id=stored.patient_external_id,
        status=status,
        reason=str(summary.get("reason") or ""),
        next_dose=summary.get("next_dose"),
        critical=int(summary.get("critical") or 0),
        warnings=int(summary.get("warnings") or 0),
        critical_codes=tuple(str(c) for c in summary.get("critical_codes") or ()),
        rules=rules,
        reason_rules=tuple(str(r) for r in summary.get("reason_rules") or ()),
        patient_name=stored.patient_name,
        acknowledged=acknowledges(
            stored.acknowledged_status, stored.acknowledged_rules, status, rules
        ),
        recomputed=recomputed,
    )


def _trusted(key: bytes, stored: StoredDecision) -> str:
    """Why a stored row must not be served although it is current ("" when its seal holds)."""
    assert stored.sealed is not None
    return decision_row_problem(key, stored.sealed, stored.mac, stored.mac_key_id)


def _is_current(stored: StoredDecision, current: str) -> bool:
    return (
        stored.summary is not None
        and stored.decision_version == stored.course_version
        and stored.fingerprint == current
    )


def _tampered(row: TodayDecision, problem: str) -> TodayDecision:
    """The recomputed row with the critical ``DECISION_ROW_TAMPERED`` alert first."""
    import dataclasses

    return dataclasses.replace(
        row,
        critical=row.critical + 1,
        critical_codes=(TAMPERED, *row.critical_codes),
        tampered=problem,
    )


def day_decisions(
    uow_factory: UowFactory,
    on: date,
    *,
    policy: SitePolicy | None = None,
    patient: str = "",
    clock: Any = _utc_now,
    today: date | None = None,
) -> DayDecisions:
    """Every course's decision for ``on`` (oldest course first), read from the store.

    ``today`` (the clinic's date, when the caller knows it): a day outside ``RETAIN_DAYS``
    before it to ``STORE_AHEAD_DAYS`` after it is computed for the request and not stored.

    One query reads every course with its stored decision and newest acknowledgement. Rows that
    are current (same course version, same fingerprint) and whose MAC verifies under the audit
    key are served as stored. The stale ones are recomputed from the courses and stored in ONE
    write transaction that first takes the day's lock (``current_decisions.lock_day``: a
    PostgreSQL advisory lock, SQLite's write lock) and reads the day again: of several workers
    that find the day stale at once, one computes and the others wait, then read what it stored.
    ``patient`` keeps only the courses whose patient id contains it (any case); the others are
    neither shown nor recomputed.

    A current row whose MAC does not verify (edited in the database, unsealed, sealed with
    another key) is never served: the course is recomputed from its events and shown with the
    critical alert ``DECISION_ROW_TAMPERED``, which is also logged. The row is left as found
    (evidence for ``inoplan audit verify``) until a write to the course or a later day replaces
    it, so every worker shows the alert on every list until then.
    """
    current = fingerprint(policy)
    with uow_factory() as uow:
        key: bytes = uow.audit.key()
        listed: list[StoredDecision] = uow.current_decisions.for_day(on)
    if patient:
        wanted = patient.lower()
        listed = [s for s in listed if wanted in s.patient_external_id.lower()]
    rows: dict[int, TodayDecision] = {}
    stale: dict[int, StoredDecision] = {}
    tampered: dict[int, str] = {}
    for stored in listed:
        if not _is_current(stored, current):
            stale[stored.course_id] = stored
        elif problem := _trusted(key, stored):
            tampered[stored.course_id] = problem
        else:
            rows[stored.course_id] = _row(stored, stored.summary or {})
    errors = 0
    recomputed = 0
    kept = today is None or (
        today - timedelta(days=RETAIN_DAYS) <= on <= today + timedelta(days=STORE_AHEAD_DAYS)
    )
    if stale and not kept:
        with uow_factory() as uow:
            loaded = uow.courses.many(sorted(stale))
        for course, events in loaded:
            done, decision = _recompute(stale[course.id], course, events, on, policy)
            rows[course.id] = done
            errors += decision is None
            recomputed += decision is not None
        stale = {}
    if stale:
        with uow_factory(write=True) as uow:
            uow.current_decisions.lock_day(on)
            # what another worker stored while this one waited for the lock is served as is
            for again in uow.current_decisions.for_day(on):
                if again.course_id not in stale or not _is_current(again, current):
                    continue
                del stale[again.course_id]
                if problem := _trusted(key, again):
                    tampered[again.course_id] = problem
                else:
                    rows[again.course_id] = _row(again, again.summary or {})
            to_store: list[dict[str, Any]] = []
            if stale:
                computed_at = clock()
                for course, events in uow.courses.many(sorted(stale)):
                    done, decision = _recompute(stale[course.id], course, events, on, policy)
                    rows[course.id] = done
                    if decision is None:
                        errors += 1
                        continue
                    recomputed += 1
                    to_store.append(
                        stored_row(
                            key=key,
                            course_id=course.id,
                            course_version=course.version,
                            on=on,
                            fingerprint=current,
                            decision=decision,
                            at=computed_at,
                        )
                    )
            if to_store:
                uow.current_decisions.upsert(to_store)
                uow.commit()
    if tampered:
        by_id = {s.course_id: s for s in listed}
        with uow_factory() as uow:
            loaded = uow.courses.many(sorted(tampered))
        for course, events in loaded:
            problem = tampered[course.id]
            log.critical(
                "%s: course %s, day %s: %s; recomputed from its events, not served",
                TAMPERED,
                course.id,
                on.isoformat(),
                problem,
                extra={"alert": TAMPERED, "course_id": course.id, "as_of": on.isoformat()},
            )
            done, decision = _recompute(by_id[course.id], course, events, on, policy)
            if decision is None:
                errors += 1
            else:
                recomputed += 1
            rows[course.id] = _tampered(done, problem)
    ordered = [rows[s.course_id] for s in listed if s.course_id in rows]
    return DayDecisions(
        on=on,
        rows=ordered,
        fresh=len(ordered) - recomputed - errors,
        recomputed=recomputed,
        errors=errors,
        tampered=len(tampered),
    )


def _recompute(
    stored: StoredDecision,
    course: CourseRecord,
    events: Sequence[EventRecord],
    on: date,
    policy: SitePolicy | None,
) -> tuple[TodayDecision, DecisionJson | None]:
    """The course's row computed from its events, with the decision (``None``: an error row
    naming why the course cannot be decided; one bad course must not hide the others)."""
    try:
        decision = _decide(assemble_document(course, [e.data for e in events]), on, policy)
    except CdsError as exc:
        return (
            TodayDecision(
                course_id=course.id,
                course_version=course.version,
                patient_id=course.patient_external_id,
                status="error",
                patient_name=stored.patient_name,
                error=str(exc),
                recomputed=True,
            ),
            None,
        )
    row = _row(stored, summarise(decision), version=course.version, recomputed=True)
    return row, decision


def prune_decisions(uow_factory: UowFactory, on: date, *, keep_days: int = RETAIN_DAYS) -> int:
    """Delete stored decisions for days more than ``keep_days`` before ``on``; returns how many."""
    with uow_factory(write=True) as uow:
        deleted: int = uow.current_decisions.prune(on - timedelta(days=keep_days))
        uow.commit()
    return deleted
