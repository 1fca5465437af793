"""Result feeds (HL7 v2, FHIR): store once, match the patient and course, record, or park.

One message is handled as one unit:

1. **Stored once.** A message is claimed under a key made of its channel, sender and message
   control id (the database's unique constraint decides between a resend, a restarted listener
   and two workers). A message seen before gets the answer it got then; nothing is added. The
   same control id with different content is parked, not merged.
2. **Checked whole.** A rejected header (not ORU^R01, unsupported version, test message) gives
   ``AR``; any problem in the content (unknown code, unit, missing upper limit of normal, broken
   segment...) parks the message (``AE``); a message with no result inoplan uses is noted and
   its text dropped (``AA``).
3. **Matched, never guessed.** Each patient in the message must be exactly one stored patient by
   medical record number, with the same birth date and sex when the message gives them, and
   have exactly one active course (decision neither ``complete`` nor ``discontinue``). Anything
   else parks the message.
4. **Recorded through the records service.** The events come from
   :func:`inoplan.domain.results.plan_events` (deterministic ids, corrections supersede, cancels
   void), are tried on the whole course document first, and are then appended one by one with
   ``records.append_event`` (so every guard of the normal write path applies). A refusal parks
   the message; a concurrent write is retried on the new version.
5. **Decision refreshed and audited.** ``services.decisions.refresh_decision`` runs for each
   course touched; one audit record per message (no patient data: ids, codes, counts).

The adapter answers the sender only after this returns (after the commit).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from inoplan.domain.results import (
    InboundMessage,
    LabResult,
    PatientResults,
    Problem,
    plan_events,
)
from inoplan.errors import Conflict, InvalidInput, NotFound
from inoplan.services.records import Clock, Page, UowFactory, utc_now

if TYPE_CHECKING:
    from inoplan.domain.policy import SitePolicy

__all__ = [
    "MATCHING_PROBLEMS",
    "InboundRecord",
    "Outcome",
    "assign",
    "dedupe_key",
    "discard",
    "get_message",
    "ingest",
    "list_messages",
    "reprocess",
]

log = logging.getLogger(__name__)

#: Problems a person resolves by assigning the message to a course.
MATCHING_PROBLEMS: Final = frozenset(
    {
        "unknown_patient",
        "ambiguous_patient",
        "identity_mismatch",
        "no_active_course",
        "several_active_courses",
    }
)
OPEN_STATES: Final = ("parked", "rejected")
FINISHED_STATES: Final = ("applied", "ignored", "resolved", "discarded")
_ACK: Final = {
    "applied": "AA",
    "ignored": "AA",
    "resolved": "AA",
    "discarded": "AE",
    "parked": "AE",
    "rejected": "AR",
}
_ENDED: Final = frozenset({"complete", "discontinue"})


@dataclass(frozen=True, slots=True)
class InboundRecord:
    """A stored result message (``inbound_messages``)."""

    id: int
    dedupe_key: str
    channel: str
    sender: str
    control_id: str
    content_sha256: str
    kind: str
    version: str
    state: str
    ack_code: str
    raw: str
    results: list[Any]
    problems: list[Any]
    notes: list[Any]
    event_ids: list[Any]
    course_id: int | None
    decision_status: str | None
    received_at: datetime
    updated_at: datetime
    resolved_by: str | None
    resolution: str | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one message, and the acknowledgement code it earns."""

    message_id: int | None
    state: str
    ack_code: str
    problems: tuple[Problem, ...] = ()
    notes: tuple[str, ...] = ()
    event_ids: tuple[str, ...] = ()
    course_ids: tuple[int, ...] = ()
    decisions: dict[int, str] = field(default_factory=dict)
    duplicate: bool = False

    @property
    def text(self) -> str:
        """One line for the acknowledgement (MSA-3) and the CLI, without patient data."""
        if self.duplicate:
            return f"already received ({self.state})"
        if self.state == "applied":
            return f"{len(self.event_ids)} event(s) recorded"
        if self.state == "ignored":
            return "no result used by inoplan"
        return "; ".join(p.code for p in self.problems)[:80] or self.state


def dedupe_key(channel: str, sender: str, control_id: str, *extra: str) -> str:
    """The idempotency key of a message: SHA-256 of channel, sender and control id."""
    text = "\x1f".join((channel, sender, control_id, *extra))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _summary(patients: Sequence[PatientResults]) -> list[dict[str, Any]]:
    return [p.to_json() for p in patients]


def _results_from_json(groups: Iterable[dict[str, Any]]) -> list[PatientResults]:
    out = []
    for g in groups:
        results = tuple(
            LabResult(
                analyte=r["analyte"],
                status=r["status"],
                observed=date.fromisoformat(r["observed"]),
                order=r["order"],
                code=r["code"],
                source=r["source"],
                value=None if r.get("value") is None else Decimal(r["value"]),
                unit=r.get("unit"),
                uln=None if r.get("uln") is None else Decimal(r["uln"]),
                lln=None if r.get("lln") is None else Decimal(r["lln"]),
                flag=r.get("flag") or "",
                result=r.get("result"),
            )
            for r in g.get("results") or ()
        )
        birth = g.get("birth_date")
        out.append(
            PatientResults(
                identifiers=tuple(g.get("identifiers") or ()),
                birth_date=None if birth is None else date.fromisoformat(birth),
                sex=g.get("sex"),
                results=results,
                ignored=tuple(g.get("ignored") or ()),
            )
        )
    return out


# -- ingest --------------------------------------------------------------------------------------


def ingest(
    uow_factory: UowFactory,
    message: InboundMessage,
    *,
    actor: str,
    on: date,
    now: datetime,
    policy: SitePolicy | None = None,
    clock: Clock = utc_now,
) -> Outcome:
    """Store, check, match and record one message (see the module docstring).

    ``on`` is the clinic's today: the day the active course and the refreshed decision are
    judged on; ``now`` the clinic's clock: a result dated after it (beyond the API's tolerance,
    ``guards.check_not_future``, the same rule as every other entry point) parks the message
    for a person. ``actor`` names the feed in the audit trail (``hl7:LAB1``).
    """
    key = dedupe_key(message.channel, message.sender, message.control_id or message.content_sha256)
    claimed = _claim(uow_factory, key, message, clock())
    if isinstance(claimed, Outcome):
        _audit_duplicate(uow_factory, claimed, message, actor=actor, at=clock())
        return claimed
    return _process(
        uow_factory, claimed, message, actor=actor, on=on, now=now, policy=policy, clock=clock
    )


def _claim(
    uow_factory: UowFactory, key: str, message: InboundMessage, now: datetime
) -> int | Outcome:
    """The message's row id to work on, or the outcome of an earlier copy of it."""
    fields: dict[str, Any] = {
        "channel": message.channel,
        "sender": message.sender[:255],
        "control_id": message.control_id[:255],
        "content_sha256": message.content_sha256,
        "kind": message.kind[:32],
        "version": message.version[:16],
        "state": "processing",
        "ack_code": "AR",
        "raw": message.raw,
        "results": _summary(message.patients),
        "problems": [p.to_json() for p in message.problems],
        "notes": [],
        "event_ids": [],
    }
    with uow_factory(write=True) as uow:
        for attempt_key in (key, dedupe_key(key, message.content_sha256, "variant")):
            existing = uow.inbound.by_key(attempt_key)
            if existing is None:
                if attempt_key != key:  # same control id, other content: park it on its own
                    fields["state"] = "parked"
                    fields["ack_code"] = "AE"
                    fields["problems"] = [
                        Problem(
                            "control_id_reused",
                            "another message with this sender and control id (MSH-10) and "
                            "different content was received before",
                            "MSH-10",
                        ).to_json()
                    ]
                new_id = uow.inbound.claim(dedupe_key=attempt_key, at=now, **fields)
                uow.commit()
                if new_id is None:  # another worker claimed it in between: process it too
                    return _claim(uow_factory, key, message, now)
                if attempt_key != key:
                    return Outcome(
                        new_id,
                        "parked",
                        "AE",
                        problems=(Problem(**fields["problems"][0]),),
                    )
                return int(new_id)
            if existing.content_sha256 != message.content_sha256 and attempt_key == key:
                continue
            if existing.state == "processing":
                return int(existing.id)  # interrupted earlier (crash, restart): finish it
            return Outcome(
                existing.id,
                existing.state,
                existing.ack_code,
                problems=tuple(Problem(**p) for p in existing.problems),
                event_ids=tuple(existing.event_ids),
                course_ids=(existing.course_id,) if existing.course_id is not None else (),
                duplicate=True,
            )
    raise AssertionError("unreachable")  # pragma: no cover


def reprocess(
    uow_factory: UowFactory,
    message_id: int,
    message: InboundMessage,
    *,
    actor: str,
    on: date,
    now: datetime,
    policy: SitePolicy | None = None,
    clock: Clock = utc_now,
) -> Outcome:
    """Run a parked or rejected message again (after the site policy or a course changed)."""
    record = get_message(uow_factory, message_id)
    if record.state not in OPEN_STATES:
        raise Conflict(f"message {message_id} is {record.state}, not waiting for review")
    return _process(
        uow_factory, message_id, message, actor=actor, on=on, now=now, policy=policy, clock=clock
    )


def _process(
    uow_factory: UowFactory,
    message_id: int,
    message: InboundMessage,
    *,
    actor: str,
    on: date,
    now: datetime,
    policy: SitePolicy | None,
    clock: Clock,
) -> Outcome:
    finish = _Finisher(uow_factory, message_id, message, actor, clock)
    if message.rejected:
        return finish("rejected", problems=message.problems)
    if message.problems:
        return finish("parked", problems=message.problems)
    groups = [g for g in message.patients if g.results]
    if not groups:
        return finish("ignored", raw="")
    targets: dict[int, list[LabResult]] = {}
    problems: list[Problem] = []
    for group in groups:
        course_id, problem = _match(uow_factory, group, on, policy)
        if problem is not None:
            problems.append(problem)
        elif course_id is not None:
            targets.setdefault(course_id, []).extend(group.results)
    if problems:
        return finish("parked", problems=problems)
    return _record(
        finish, uow_factory, targets, message, actor=actor, on=on, now=now, policy=policy
    )


def _record(
    finish: _Finisher,
    uow_factory: UowFactory,
    targets: dict[int, list[LabResult]],
    message: InboundMessage,
    *,
    actor: str,
    on: date,
    now: datetime,
    policy: SitePolicy | None,
    state: str = "applied",
    resolution: str | None = None,
) -> Outcome:
    applied: list[str] = []
    notes: list[str] = []
    problems: list[Problem] = []
    for course_id, results in targets.items():
        done, noted, refused = _apply(uow_factory, course_id, results, message, actor, now)
        applied += done
        notes += noted
        problems += refused
    touched = [c for c in targets if applied]  # a decision changes only when events landed
    decisions = {course_id: _refresh(uow_factory, course_id, on, policy) for course_id in touched}
    if problems:
        return finish(
            "parked",
            problems=problems,
            notes=notes,
            event_ids=applied,
            courses=tuple(targets),
            decisions=decisions,
        )
    return finish(
        state,
        notes=notes,
        event_ids=applied,
        courses=tuple(targets),
        decisions=decisions,
        resolution=resolution,
    )


def _refresh(uow_factory: UowFactory, course_id: int, on: date, policy: SitePolicy | None) -> str:
    from inoplan.services.decisions import refresh_decision

    return refresh_decision(uow_factory, course_id, on, policy=policy)


class _Finisher:
    """Writes a message's final state with its audit record, in one transaction."""

    def __init__(
        self,
        uow_factory: UowFactory,
        message_id: int,
        message: InboundMessage,
        actor: str,
        clock: Clock,
    ) -> None:
        self.uow_factory = uow_factory
        self.message_id = message_id
        self.message = message
        self.actor = actor
        self.clock = clock

    def __call__(
        self,
        state: str,
        *,
        problems: Sequence[Problem] = (),
        notes: Sequence[str] = (),
        event_ids: Sequence[str] = (),
        courses: tuple[int, ...] = (),
        decisions: dict[int, str] | None = None,
        raw: str | None = None,
        resolution: str | None = None,
    ) -> Outcome:
        from inoplan.services.audit import append_audit

        decisions = decisions or {}
        ack = _ACK[state]
        course_id = courses[0] if len(courses) == 1 else None
        fields: dict[str, Any] = {
            "state": state,
            "ack_code": ack,
            "problems": [p.to_json() for p in problems],
            "notes": list(notes),
            "event_ids": list(event_ids),
            "course_id": course_id,
            "decision_status": decisions.get(course_id) if course_id is not None else None,
        }
        if raw is not None:
            fields["raw"] = raw
        if resolution is not None:
            fields["resolved_by"] = self.actor
            fields["resolution"] = resolution
        now = self.clock()
        with self.uow_factory(write=True) as uow:
            uow.inbound.update(self.message_id, at=now, **fields)
            append_audit(
                uow,
                actor=self.actor,
                action=f"result.{state}",
                entity="inbound_message",
                entity_id=str(self.message_id),
                course_id=course_id,
                after={
                    "channel": self.message.channel,
                    "sender": self.message.sender,
                    "control_id": self.message.control_id,
                    "content_sha256": self.message.content_sha256,
                    "kind": self.message.kind,
                    "version": self.message.version,
                    "state": state,
                    "ack": ack,
                    "problems": [p.code for p in problems],
                    "results": len(self.message.results),
                    "event_ids": list(event_ids),
                    "courses": list(courses),
                    "decisions": {str(c): s for c, s in decisions.items()},
                    **({"resolution": resolution} if resolution is not None else {}),
                },
                at=now,
            )
            uow.commit()
        log.info(
            "result message %s %s from %s: %s (%s)%s",
            self.message.channel,
            self.message.control_id,
            self.message.sender,
            state,
            ack,
            f" problems={','.join(p.code for p in problems)}" if problems else "",
        )
        return Outcome(
            self.message_id,
            state,
            ack,
            problems=tuple(problems),
            notes=tuple(notes),
            event_ids=tuple(event_ids),
            course_ids=courses,
            decisions=decisions,
        )


def _audit_duplicate(
    uow_factory: UowFactory, outcome: Outcome, message: InboundMessage, *, actor: str, at: datetime
) -> None:
    from inoplan.services.audit import append_audit

    with uow_factory(write=True) as uow:
        append_audit(
            uow,
            actor=actor,
            action="result.duplicate" if outcome.duplicate else f"result.{outcome.state}",
            entity="inbound_message",
            entity_id=str(outcome.message_id),
            after={
                "channel": message.channel,
                "sender": message.sender,
                "control_id": message.control_id,
                "content_sha256": message.content_sha256,
                "state": outcome.state,
                "ack": outcome.ack_code,
                "problems": [p.code for p in outcome.problems],
            },
            at=at,
        )
        uow.commit()
    log.info(
        "result message %s %s from %s: %s (%s)",
        message.channel,
        message.control_id,
        message.sender,
        "duplicate, answered as before" if outcome.duplicate else outcome.state,
        outcome.ack_code,
    )


# -- matching ----------------------------------------------------------------------------------


def _match(
    uow_factory: UowFactory, group: PatientResults, on: date, policy: SitePolicy | None
) -> tuple[int | None, Problem | None]:
    with uow_factory() as uow:
        found = {}
        for identifier in group.identifiers:
            patient = uow.patients.get_by_external(identifier)
            if patient is not None:
                found[patient.id] = patient
    if not found:
        return None, Problem(
            "unknown_patient", "no stored patient has this medical record number", "PID-3"
        )
    if len(found) > 1:
        return None, Problem(
            "ambiguous_patient",
            f"the record numbers in the message name {len(found)} different patients",
            "PID-3",
        )
    [patient] = found.values()
    if (group.birth_date is not None and group.birth_date != patient.birth_date) or (
        group.sex is not None and group.sex != patient.sex
    ):
        return None, Problem(
            "identity_mismatch",
            "the record number belongs to a patient with another birth date or sex "
            "(PID-7/PID-8): the result may be someone else's",
            "PID-3",
        )
    active = [c for c in patient.course_ids if _active(uow_factory, c, on, policy)]
    if not active:
        return None, Problem(
            "no_active_course", "the patient has no active inotuzumab course", "PID-3"
        )
    if len(active) > 1:
        return None, Problem(
            "several_active_courses",
            f"the patient has {len(active)} active courses: choose one",
            "PID-3",
        )
    return active[0], None


def _active(uow_factory: UowFactory, course_id: int, on: date, policy: SitePolicy | None) -> bool:
    """A course is active unless its decision on ``on`` is complete or discontinue."""
    from inoplan.errors import CdsError
    from inoplan.services.decisions import course_decision

    try:
        status = course_decision(uow_factory, course_id, on, policy=policy).get("status")
    except CdsError:
        return True  # cannot tell: counted, so that two courses are never guessed between
    return status not in _ENDED


# -- recording -----------------------------------------------------------------------------------


def _apply(
    uow_factory: UowFactory,
    course_id: int,
    results: Sequence[LabResult],
    message: InboundMessage,
    actor: str,
    now: datetime,
) -> tuple[list[str], list[str], list[Problem]]:
    """Append the events for ``results`` to one course: (event ids, notes, problems).

    The whole set is tried on the course first (valid, nothing dated in the future at ``now``:
    ``guards.check_not_future``, the API's rule), so a refusal appends none of them.
    """
    from inoplan.document import parse_course
    from inoplan.services import guards
    from inoplan.services.common import document_of
    from inoplan.services.records import append_event, course_document

    applied: list[str] = []
    notes: list[str] = []
    for _ in range(5):
        stored = course_document(uow_factory, course_id)
        version, document = stored["version"], document_of(stored)
        planned = plan_events(
            document["events"],
            results,
            channel=message.channel,
            sender=message.sender,
            control_id=message.control_id,
        )
        if planned.problems:
            return applied, notes + list(planned.notes), list(planned.problems)
        trial = {**document, "events": [*document["events"], *planned.events]}
        first = len(document["events"])
        try:
            guards.check_not_future(
                parse_course(trial),
                now,
                positions=range(first, first + len(planned.events)),
                check_plan=False,
            )
        except InvalidInput as exc:
            return applied, notes, [_refused(exc, first, planned.events)]
        try:
            for event in planned.events:
                ref = append_event(
                    uow_factory, course_id, event, expected_version=version, actor=actor, now=now
                )
                version = ref.version
                applied.append(str(event["id"]))
        except Conflict:
            continue  # someone else wrote first: plan again on the new version
        except InvalidInput as exc:
            return applied, notes, [_refused(exc, None, planned.events)]
        return applied, notes + list(planned.notes), []
    return (
        applied,
        notes,
        [Problem("busy", "the course kept changing while the results were recorded; retry")],
    )


def _refused(exc: InvalidInput, first: int | None, events: Sequence[dict[str, Any]]) -> Problem:
    where = exc.field
    if first is not None and where.startswith("events["):
        try:
            index = int(where[len("events[") : where.index("]")]) - first
        except ValueError:
            index = -1
        if 0 <= index < len(events):
            where = f"event {events[index].get('id')}{where[where.index(']') + 1 :]}"
    return Problem("refused", f"the course refused the result: {exc.message}", where)


# -- review (the web page) --------------------------------------------------------------------


def list_messages(
    uow_factory: UowFactory,
    *,
    states: Sequence[str] = OPEN_STATES,
    offset: int = 0,
    limit: int = 50,
) -> Page[InboundRecord]:
    with uow_factory() as uow:
        rows, count = uow.inbound.list(states=states, offset=offset, limit=limit)
    return Page(data=rows, count=count, offset=offset, limit=limit)


def get_message(uow_factory: UowFactory, message_id: int) -> InboundRecord:
    with uow_factory() as uow:
        record: InboundRecord | None = uow.inbound.get(message_id)
    if record is None:
        raise NotFound(f"result message {message_id} does not exist")
    return record


def _as_message(record: InboundRecord) -> InboundMessage:
    return InboundMessage(
        channel=record.channel,
        sender=record.sender,
        control_id=record.control_id,
        raw=record.raw,
        content_sha256=record.content_sha256,
        kind=record.kind,
        version=record.version,
        patients=tuple(_results_from_json(record.results)),
    )


def assign(
    uow_factory: UowFactory,
    message_id: int,
    course_id: int,
    *,
    actor: str,
    note: str,
    on: date,
    now: datetime,
    policy: SitePolicy | None = None,
    clock: Clock = utc_now,
) -> Outcome:
    """A person assigns a parked message to a course (the patient match they made is audited).

    Only a message parked for matching reasons (unknown or ambiguous patient, identity check,
    no or several active courses) can be assigned: other problems are in the content and an
    assignment would not fix them.

    Raises
    ------
    NotFound
        No such message or course.
    Conflict
        The message is not parked.
    InvalidInput
        ``note`` is empty, or the message has problems an assignment cannot fix.
    """
    from inoplan.services.records import course_version

    note = (note or "").strip()
    if len(note) < 3:
        raise InvalidInput("note", "say why this message belongs to this course")
    record = get_message(uow_factory, message_id)
    if record.state != "parked":
        raise Conflict(f"message {message_id} is {record.state}, not parked")
    other = {p.get("code") for p in record.problems} - MATCHING_PROBLEMS
    if other:
        raise InvalidInput(
            "message",
            "this message has problems an assignment cannot fix ("
            + ", ".join(sorted(str(o) for o in other))
            + "): fix the site policy and retry, or discard it",
        )
    course_version(uow_factory, course_id)  # NotFound when the course does not exist
    message = _as_message(record)
    results = list(message.results)
    finish = _Finisher(uow_factory, message_id, message, actor, clock)
    return _record(
        finish,
        uow_factory,
        {course_id: results},
        message,
        actor=actor,
        on=on,
        now=now,
        policy=policy,
        state="resolved",
        resolution=f"assigned to course {course_id}: {note}"[:1000],
    )


def discard(
    uow_factory: UowFactory,
    message_id: int,
    *,
    actor: str,
    reason: str,
    clock: Clock = utc_now,
) -> Outcome:
    """A person discards a parked or rejected message, with a reason (audited)."""
    reason = (reason or "").strip()
    if len(reason) < 3:
        raise InvalidInput("reason", "say why the message is discarded")
    record = get_message(uow_factory, message_id)
    if record.state not in OPEN_STATES:
        raise Conflict(f"message {message_id} is {record.state}, not waiting for review")
    finish = _Finisher(uow_factory, message_id, _as_message(record), actor, clock)
    return finish(
        "discarded",
        problems=tuple(Problem(**p) for p in record.problems),
        resolution=reason[:1000],
    )
