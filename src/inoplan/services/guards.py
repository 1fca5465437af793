"""Write-time guards: what a course document or an event must satisfy before it is stored.

``inoplan.document.parse_course`` already refuses what is invalid or implausible in itself
(types, units, plausibility ranges, dates outside 1900-2099). The guards here need more than
the document: the clinic's clock, the caller's role and the decision engine. Every write path
(``records.create_course``, ``records.append_event``; so the REST API, the web forms, the FHIR
import and the demo seed) runs them in this order, and a refusal stores nothing. The role and
clock checks run when the caller passes ``role`` and ``now`` (every adapter does; a trusted
internal caller such as the demo seed or a test's setup may leave them out):

1. **Roles** (:func:`authorize_event`): recording an event needs ``event.<type>``, and a dose
   recorded with an ``override_reason``, or directly (:func:`is_direct_administration`: not by
   the workflow's give step, not a correction of the same day), needs ``dose.override`` instead
   (the prescriber's call);
   a correction or a void also needs the permission to record its target (a nurse cannot
   withdraw a prescriber's VOD record); withdrawing a recorded dose, or correcting its date,
   day, dose or infusion care (:func:`withdrawn_dose_facts`), needs ``dose.override``.
2. **No future** (:func:`check_not_future`): an event that records something that happened
   (every type except a planned transplant) may not be dated after the clinic's today, with a
   clock tolerance of :data:`FUTURE_TOLERANCE`; a planned transplant, and the planned start of a
   course, at most :data:`PLANNED_HORIZON_DAYS` ahead; a birth date not after today.
3. **Dose against the decision** (:func:`dose_override_reasons`): a dose recorded directly,
   outside the treatment-day workflow (any writer of the live course but the workflow's own
   give step, ``records.WorkflowGive``; a correction of a recorded dose for the same cycle and
   day keeps the correction rules), for a day the decision holds, on a discontinued course,
   above the engine's planned dose for its day (Table 4, the prescriber's dose change, the cap
   at the cycle maximum; with the label file's rounding tolerance), above the per-dose or
   per-cycle mg/m2 maximum or fewer than 6 days from another dose needs an ``override_reason``
   (else :class:`~inoplan.errors.OutsideWorkflow` for a direct administration,
   :class:`~inoplan.errors.OverrideRequired` otherwise). For the doses of a whole document
   stored at once (a new course, a FHIR import: the course's history) the decision and the plan
   of each day are not replayed in hindsight; the hard limits and a recorded discontinuation
   still apply, and ``records.create_course`` names those doses as history in its audit record.
   A dose of such a document dated on or after :func:`live_dose_from` (the clinic's today minus
   :data:`LIVE_DOSE_DAYS`) is not history: it is judged as a dose recorded now.
4. **A moved treatment day stays in its window** (:func:`check_move`): a ``reschedule`` entry
   is refused unless the engine's plan, as of the later of today and the entry's date, applies
   it (days 8 and 15 inside the label's window and at least the minimum gap after the previous
   dose; day 1 delayed, never brought forward; a dose not given yet), with the window and the
   label citation in the message; a ``dose_change`` likewise (:func:`check_move`) unless it
   lowers the dose the label (with its Table 4 changes) gives a day not given yet.
5. **Still decidable** (:func:`check_decidable`): the would-be course is planned and decided
   (for today and for each date written), exactly as the plan and decision endpoints do it; an
   entry that would make that fail is refused instead of breaking the course for everyone.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from inoplan.domain import course as c
from inoplan.domain.label import Label
from inoplan.domain.policy import SitePolicy
from inoplan.errors import InvalidInput, OutsideWorkflow, OverrideRequired

__all__ = [
    "FUTURE_TOLERANCE",
    "LIVE_DOSE_DAYS",
    "PLANNED_HORIZON_DAYS",
    "authorize_event",
    "check_decidable",
    "check_move",
    "check_not_future",
    "dose_override_reasons",
    "is_direct_administration",
    "latest_allowed_date",
    "live_dose_from",
    "outside_workflow_reason",
    "require_override",
    "required_action",
    "withdrawn_dose_facts",
]

log = logging.getLogger(__name__)

#: A device clock a little ahead of the server's, near midnight, may date an entry "tomorrow".
FUTURE_TOLERANCE: Final = timedelta(minutes=5)
#: How far ahead a planned transplant or the planned start of a course may be dated.
PLANNED_HORIZON_DAYS: Final = 365
#: A dose of a new document (a new course, a FHIR import) dated this many days before the
#: clinic's today or later is judged as a dose recorded now (the decision of its date, the
#: engine's planned dose), not as history: what decided today's or yesterday's dose is known.
LIVE_DOSE_DAYS: Final = 1


def live_dose_from(today: date) -> date:
    """The earliest date of a new document's dose judged as live (:data:`LIVE_DOSE_DAYS`).

    >>> live_dose_from(date(2026, 12, 8)).isoformat()
    '2026-12-07'
    """
    return today - timedelta(days=LIVE_DOSE_DAYS)


#: Decision statuses on which a recorded dose goes against the decision.
_AGAINST: Final = {"hold": "holds", "discontinue": "says discontinue"}


# -- 1. roles ----------------------------------------------------------------------------------


def required_action(event: Mapping[str, Any]) -> str:
    """The action that recording ``event`` needs: ``event.<type>``; for a dose recorded with an
    ``override_reason`` (against the decision), ``dose.override`` (a prescriber's decision).

    >>> required_action({"type": "labs"}), required_action(
    ...     {"type": "administration", "override_reason": "after review"})
    ('event.labs', 'dose.override')
    """
    from inoplan.services.auth import event_action

    kind = event.get("type")
    if kind == "administration" and event.get("override_reason"):
        return "dose.override"
    return event_action(kind)


def authorize_event(
    role: str,
    event: Mapping[str, Any],
    stored: Sequence[Mapping[str, Any]] | None = None,
    *,
    given_by_workflow: bool = False,
) -> None:
    """Raise ``Forbidden`` unless ``role`` may record ``event`` (against the ``stored`` events).

    ``given_by_workflow``: the workflow's give step records its own dose (it checked
    ``dose.give`` and the second signer); only ``records.append_event`` passes it, for
    ``records.WorkflowGive``.

    A correction (``supersedes``) or a void also needs the permission to record its target (a
    nurse cannot withdraw a prescriber's VOD record). Without ``stored`` the target is not
    checked (a first, cheap check before the course is read).
    """
    from inoplan.services.auth import Forbidden, can

    action = required_action(event)
    target_id = event.get("supersedes")
    target = None
    if target_id and stored is not None:
        target = next((e for e in stored if e.get("id") == target_id), None)
    if (
        stored is None
        and target_id
        and action == "event.administration"
        and can(role, "dose.override")
    ):
        return  # a correction of a dose given may be the prescriber's: judged with the course
    changed = withdrawn_dose_facts(event, target)
    if changed and action == "event.administration":
        action = "dose.override"  # review H2/H3: changing a dose given is a prescriber's call
    if (
        action == "event.administration"
        and not given_by_workflow
        and is_direct_administration(event, stored)
    ):
        action = "dose.override"  # review H2: a dose outside the workflow is a prescriber's call
        if not can(role, action):
            refused = Forbidden(role, action)
            refused.args = (
                f"role {role!r} may not perform 'dose.override', so it may not record an "
                "administration directly: a dose is recorded by the treatment-day workflow's "
                "give step (dose.give, with a second signer); a dose given outside the workflow "
                "(elsewhere, or documented late) is recorded by a prescriber with an override "
                "reason. Nothing was saved.",
            )
            raise refused
    if changed and not can(role, "dose.override"):
        raise _dose_taken_back(role, event, target or {}, changed)
    overrides = action == "event.administration" and bool(target_id) and can(role, "dose.override")
    if overrides:
        # a prescriber may do to a recorded dose whatever a nurse may (reword a reason): the
        # override permission covers every change of a dose record (second review)
        action = "dose.override"
    if not can(role, action):
        raise Forbidden(role, action)
    if target is None or target.get("type") not in _event_types():
        return  # the document check names the unknown target
    target_action = "dose.override" if changed or overrides else required_action(target)
    if not can(role, target_action):
        refused = Forbidden(role, target_action)
        what = str(target.get("type")).replace("_", " ")
        refused.args = (
            f"role {role!r} may not perform {target_action!r}, so it may not correct or "
            f"withdraw {target_id!r} (a {what} entry); ask a colleague whose role records it",
        )
        raise refused


def _dose_taken_back(
    role: str, event: Mapping[str, Any], target: Mapping[str, Any], changed: Sequence[str]
) -> Exception:
    from inoplan.services.auth import Forbidden

    refused = Forbidden(role, "dose.override")
    what = "withdraw" if event.get("type") == "void" else f"change ({', '.join(changed)} of)"
    refused.args = (
        f"role {role!r} may not perform 'dose.override', so it may not {what} the recorded dose "
        f"{target.get('id')!r} (cycle {target.get('cycle')} day {target.get('day')}): taking "
        "back a dose given, or changing its date, day, dose or infusion care, is a prescriber's "
        "call with its reason and leaves a critical alert on the record (else the engine would "
        "advise giving it again); a nurse or pharmacist may only reword a premedication or "
        "observation reason. Nothing was saved.",
    )
    return refused


def withdrawn_dose_facts(
    event: Mapping[str, Any], target: Mapping[str, Any] | None
) -> tuple[str, ...]:
    """What ``event`` takes back of the recorded administration ``target``: ``("withdrawn",)``
    for a void, the :data:`~inoplan.domain.course.DOSE_FACTS` a correction changes, else ()
    (review H2/H3: each needs ``dose.override`` and leaves a critical alert, DOSE_WITHDRAWN or
    DOSE_CORRECTED).

    >>> dose = {"id": "a", "type": "administration", "date": "2026-01-08", "cycle": 1,
    ...         "day": 8, "dose_mg": 0.9}
    >>> withdrawn_dose_facts({"type": "void", "supersedes": "a"}, dose)
    ('withdrawn',)
    >>> withdrawn_dose_facts({**dose, "id": "b", "supersedes": "a", "dose_mg": 0.5}, dose)
    ('dose_mg',)
    >>> withdrawn_dose_facts({**dose, "id": "b", "supersedes": "a"}, dose)
    ()
    """
    if target is None or target.get("type") != "administration":
        return ()
    if event.get("type") == "void":
        return ("withdrawn",)
    if event.get("type") != "administration":
        return ()  # the document check names a correction of another type
    return c.changed_dose_facts(target, event)


def is_direct_administration(
    event: Mapping[str, Any], stored: Sequence[Mapping[str, Any]] | None = None
) -> bool:
    """An administration written outside the workflow's give step: a new one, or a correction
    that moves a recorded dose to another cycle or day. A correction (``supersedes``) of a
    recorded administration of the same cycle and day keeps the correction rules (the target's
    own permission, the decision, the plan); without ``stored`` a correction is not judged yet.

    >>> is_direct_administration({"type": "administration", "cycle": 1, "day": 8})
    True
    >>> fix = {"type": "administration", "cycle": 1, "day": 8, "supersedes": "a"}
    >>> is_direct_administration(fix, [{"id": "a", "type": "administration", "cycle": 1,
    ...                                 "day": 8}])
    False
    """
    if event.get("type") != "administration":
        return False
    target_id = event.get("supersedes")
    if not target_id:
        return True
    if stored is None:
        return False
    target = next((e for e in stored if e.get("id") == target_id), None)
    if target is None or target.get("type") != "administration":
        return True  # the document check names an unknown or mismatched target
    return (target.get("cycle"), target.get("day")) != (event.get("cycle"), event.get("day"))


def _event_types() -> frozenset[str]:
    from inoplan.document.io import _EVENT_TYPES

    return frozenset(_EVENT_TYPES)


# -- 2. no future ------------------------------------------------------------------------------


def latest_allowed_date(now: datetime) -> date:
    """The latest date a past-tense entry may carry at ``now`` (the clinic's clock).

    >>> from datetime import UTC
    >>> latest_allowed_date(datetime(2026, 12, 1, 23, 54, tzinfo=UTC)).isoformat()
    '2026-12-01'
    >>> latest_allowed_date(datetime(2026, 12, 1, 23, 56, tzinfo=UTC)).isoformat()
    '2026-12-02'
    """
    return (now + FUTURE_TOLERANCE).date()


def check_not_future(
    course: c.Course,
    now: datetime,
    *,
    positions: Iterable[int] | None = None,
    fields: Mapping[int, str] | None = None,
    check_plan: bool = True,
) -> None:
    """Refuse an entry dated in the future (see the module docstring for the bounds).

    ``positions`` limits the check to the events written now (``None``: every event); ``fields``
    maps a position to the field name to report (``event`` for an appended event).
    """
    latest = latest_allowed_date(now)
    horizon = now.date() + timedelta(days=PLANNED_HORIZON_DAYS)
    if check_plan:
        if course.patient.birth_date > latest:
            raise InvalidInput("patient.birth_date", "is in the future")
        if course.plan.start_date > horizon:
            raise InvalidInput(
                "plan.start_date",
                f"{course.plan.start_date.isoformat()} is more than {PLANNED_HORIZON_DAYS} "
                f"days ahead (latest {horizon.isoformat()}); check the year",
            )
    wanted = None if positions is None else set(positions)
    for event in (*course.events, *course.superseded, *course.voids):
        if wanted is not None and event.index not in wanted:
            continue
        where = (fields or {}).get(event.index, f"events[{event.index}]")
        if isinstance(event, c.HsctEvent) and event.planned:
            if event.date > horizon:
                raise InvalidInput(
                    f"{where}.date",
                    f"a planned transplant may be dated at most {PLANNED_HORIZON_DAYS} days "
                    f"ahead (latest {horizon.isoformat()}); {event.date.isoformat()} is not",
                )
            continue
        if event.date > latest:
            raise InvalidInput(
                f"{where}.date",
                f"{event.date.isoformat()} is in the future (today is "
                f"{now.date().isoformat()}): {_article(event.type)} entry records what has "
                "happened; enter it on the day it happens",
            )


def _article(kind: str) -> str:
    text = kind.replace("_", " ")
    return f"an {text}" if text[:1] in "aeiou" else f"a {text}"


# -- 3. doses against the decision -------------------------------------------------------------


def _without(course: c.Course, event: c.Event, *, with_target: bool = True) -> c.Course:
    """The course as it was before ``event`` was recorded (its correction target restored).

    ``with_target=False``: the target of a correction is left out too (the course before that
    dose was recorded at all: what the engine planned for its day).
    """
    events = [e for e in course.events if e.index != event.index]
    superseded = list(course.superseded)
    if event.supersedes:
        still = {
            e.supersedes
            for e in (*course.events, *course.voids)
            if e.supersedes and e.index != event.index
        }
        restored = [e for e in superseded if e.id == event.supersedes and e.id not in still]
        if with_target:
            events += restored
        superseded = [e for e in superseded if e not in restored]
    events.sort(key=lambda e: (e.date, e.index))
    return dataclasses.replace(course, events=tuple(events), superseded=tuple(superseded))


def _mg(value: Decimal) -> str:
    return format(value.normalize(), "f")


#: The engine's own changes to a day's dose, in words (``Decision.modifications`` codes).
_MODIFICATION_WORDS: Final = {
    "reduce_total_25": "each dose reduced by 25 % after a treatment interruption",
    "two_doses_per_cycle": "two doses per cycle after a treatment interruption",
}


def _why_planned(plan: Any, planned: Any, decision: Any, label: Label) -> str:
    """Why the engine plans ``planned``'s mg/m2 for its day: the prescriber's dose change, the
    Table 4 changes in force for its cycle, the cap at what is left of the cycle maximum, or
    the label's own dose for that day."""
    why: list[str] = []
    change = plan.dose_change(planned.cycle, planned.day)
    if change is not None and change.applied:
        why.append(
            f"the prescriber lowered it to {_mg(change.mg_per_m2)} mg/m² ({change.reason}; the "
            f"label gives {_mg(change.label_mg_per_m2)} mg/m²)"
        )
    for found in decision.modifications:
        if found.from_cycle <= planned.cycle:  # pending: applies once this dose ends it
            words = _MODIFICATION_WORDS.get(found.code, found.code.replace("_", " "))
            why.append(f"{words} from cycle {found.from_cycle} ({found.citation})")
    if planned.limited_from is not None:
        why.append(
            f"capped from {_mg(planned.limited_from)} mg/m² at what is left of the cycle "
            f"maximum of {label.limits.max_mg_per_m2_per_cycle} mg/m² "
            f"({label.limits.citation.text})"
        )
    if not why:
        why.append(f"the label's dose for that day ({label.regimen.citation.text})")
    return "; ".join(why)


def _above_planned_dose(
    course: c.Course,
    administration: c.AdministrationEvent,
    label: Label,
    policy: SitePolicy,
    planned_as_of: Any,
) -> str:
    """More than the engine's planned mg/m2 for the dose's day, beyond the label file's rounding
    tolerance (``recorded_dose_tolerance_steps``): one source, the engine's plan
    (``domain.engine.plan.plan_as_of``) of the course without this dose, as of its date, with
    every change the engine makes (Table 4, the two-doses step, the cap at the cycle maximum)
    and the prescriber's dose change. A correction is judged against the plan without the dose
    it corrects. Empty when the plan has no dose to give that day (the decision names why)."""
    from inoplan.domain.engine.limits import recorded_doses

    plan = planned_as_of.plan
    planned = plan.dose(administration.cycle, administration.day)
    if planned is None or planned.status not in ("planned", "held"):
        return ""
    mine = next(
        (d for d in recorded_doses(course, label, policy) if d.event.index == administration.index),
        None,
    )
    if mine is None or mine.mg_per_m2 is None or not mine.above(planned.dose_mg_per_m2):
        return ""
    planned_mg = "" if planned.dose_mg is None else f"{_mg(planned.dose_mg)} mg = "
    return (
        f"{_mg(administration.dose_mg)} mg recorded is "
        f"{_mg(mine.mg_per_m2.quantize(Decimal('0.001')))} mg/m² at BSA {mine.bsa_m2} m², more "
        f"than the {planned_mg}{_mg(planned.dose_mg_per_m2)} mg/m² the engine's plan gives cycle "
        f"{administration.cycle} day {administration.day}: "
        f"{_why_planned(plan, planned, planned_as_of.decision, label)}"
    )


def outside_workflow_reason(administration: c.AdministrationEvent) -> str:
    """Why a direct administration needs a prescriber's override (first in ``because``)."""
    return (
        f"cycle {administration.cycle} day {administration.day} was not given through the "
        "treatment-day workflow (release, verification, preparation and administration with "
        "second signers)"
    )


def dose_override_reasons(
    course: c.Course,
    administration: c.AdministrationEvent,
    *,
    policy: SitePolicy | None = None,
    history: bool = False,
    outside_workflow: bool = False,
) -> tuple[str, ...]:
    """Why recording ``administration`` (already part of ``course``) goes against the decision.

    Empty when it does not. Checked: that it was recorded outside the treatment-day workflow
    (``outside_workflow``: the caller knows, ``records.append_event``); the decision for its
    date without it (hold, discontinue); the engine's planned dose for its day (Table 4 and the
    other engine changes, the prescriber's dose change), with the label file's rounding
    tolerance; the per-dose and per-cycle mg/m2 maxima at the BSA in force on each dose's date
    (a dose as calculated and rounded by the site's rounding policy is never above them); the
    minimum number of days between two doses.

    ``history``: the dose is part of a whole course document stored at once (a new course, a
    FHIR import), not a dose recorded now. The decision and the plan of its day are then not
    replayed in hindsight (results entered with the history were not necessarily known when the
    dose was given); a recorded discontinuation dated on or before the dose still counts, and the
    cycle total counts the doses up to this one (the one that crossed the line), not the later
    ones.
    """
    from inoplan.domain.engine.limits import allowances, recorded_doses, short_intervals
    from inoplan.domain.engine.plan import plan_as_of
    from inoplan.knowledge.loader import load_label
    from inoplan.knowledge.qt import load_qt_drugs
    from inoplan.services.render_decision import decision_to_json

    policy = policy or SitePolicy()
    label = load_label(course.label)
    out: list[str] = []
    if outside_workflow:
        out.append(outside_workflow_reason(administration))
    on = administration.date
    if history:
        stop = next((e for e in course.of_type(c.DiscontinuationEvent) if e.date <= on), None)
        if stop is not None:
            out.append(
                f"the course was discontinued on {stop.date.isoformat()} "
                f"({stop.reason_text}); no dose after that"
            )
    else:
        # one evaluation of the course without this dose: its decision and its plan for the day
        found = plan_as_of(
            _without(course, administration), label, on, policy=policy, qt_drugs=load_qt_drugs()
        )
        before = decision_to_json(found.decision, label=label)
        status = before["status"]
        if status in _AGAINST:
            reasons = before["reasons"]
            deciding = next((r for r in reasons if r.get("verdict") == status), None)
            deciding = deciding or (reasons[0] if reasons else None)
            why = (
                f": {deciding['message']} ({deciding['citation']})"
                if deciding is not None and deciding["message"]
                else ""
            )
            out.append(f"the decision for {on.isoformat()} {_AGAINST[status]}{why}")
        if administration.supersedes:  # judged against the plan without the dose it corrects
            found = plan_as_of(
                _without(course, administration, with_target=False),
                label,
                on,
                policy=policy,
                qt_drugs=load_qt_drugs(),
            )
        above_plan = _above_planned_dose(course, administration, label, policy, found)
        if above_plan:
            out.append(above_plan)

    # The engine's own count of what was recorded (inoplan.domain.engine.limits): mg/m2 actually
    # given at the BSA of each dose's day, with the label file's rounding tolerance
    # (recorded_dose_tolerance_steps) - one source for the guard and the critical alerts.
    limits = label.limits
    recorded = recorded_doses(course, label, policy)
    mine = next((d for d in recorded if d.event.index == administration.index), None)
    if mine is not None and mine.above(limits.max_mg_per_m2_per_dose):
        assert mine.bsa_m2 is not None and mine.mg_per_m2 is not None
        ceiling = (limits.max_mg_per_m2_per_dose * mine.bsa_m2).quantize(
            policy.rounding.dose_step_mg
        )
        out.append(
            f"{_mg(administration.dose_mg)} mg is {mine.mg_per_m2.quantize(Decimal('0.01'))} "
            f"mg/m² at BSA {mine.bsa_m2} m², above the maximum of "
            f"{limits.max_mg_per_m2_per_dose} mg/m² per dose ({ceiling} mg; "
            f"{limits.citation.text})"
        )
    mark = (administration.date, administration.index)
    counted = [d for d in recorded if not history or (d.event.date, d.event.index) <= mark]
    allowance = allowances(counted, label).get(administration.cycle)
    if allowance is not None and allowance.above and not allowance.unknown:
        out.append(
            f"cycle {administration.cycle} would total "
            f"{allowance.given_mg_per_m2.quantize(Decimal('0.01'))} mg/m², above the maximum of "
            f"{limits.max_mg_per_m2_per_cycle} mg/m² per cycle ({limits.citation.text})"
        )
    gap = label.regimen.min_days_between_doses
    for first, second in short_intervals(recorded, gap):
        if second.event.index == administration.index:
            other = first.event
        elif first.event.index == administration.index and not history:
            other = second.event
        else:
            continue
        days = abs((administration.date - other.date).days)
        out.append(
            f"{days} day{'s' if days != 1 else ''} from cycle {other.cycle} day {other.day} "
            f"given on {other.date.isoformat()}; at least {gap} days must separate two "
            f"doses ({label.regimen.citation.text})"
        )
        break
    return tuple(out)


def require_override(
    course: c.Course,
    administration: c.AdministrationEvent,
    *,
    field: str,
    policy: SitePolicy | None = None,
    history: bool = False,
    outside_workflow: bool = False,
    state: str = "ordered",
) -> tuple[str, ...]:
    """Raise ``OverrideRequired`` when the dose needs an override and carries none;
    ``OutsideWorkflow`` (HTTP 409) when it was recorded outside the treatment-day workflow
    (``outside_workflow``; ``state`` is the day's treatment-day state, for the message).

    Returns the reasons (empty when the dose follows the decision), so that the audit record
    can name what an override overrode.
    """
    because = dose_override_reasons(
        course, administration, policy=policy, history=history, outside_workflow=outside_workflow
    )
    if because and not (administration.override_reason or "").strip():
        if outside_workflow:
            raise OutsideWorkflow(
                field, because, cycle=administration.cycle, day=administration.day, state=state
            )
        raise OverrideRequired(field, because)
    return because


# -- 4. still decidable ------------------------------------------------------------------------


def check_move(
    course: c.Course,
    index: int,
    on: date,
    *,
    field: str,
    policy: SitePolicy | None = None,
) -> None:
    """Refuse the ``reschedule`` entry at document position ``index`` unless the plan applies it.

    The plan is the engine's (``domain.engine.plan.plan_as_of``) as of the later of ``on`` (the
    clinic's today) and the entry's date, so it has the Table 4 changes and the omissions the
    decision would make.
    """
    from inoplan.domain.engine.plan import plan_as_of
    from inoplan.knowledge.loader import load_label

    move = next(
        (
            e
            for e in course.events
            if e.index == index and isinstance(e, c.RescheduleEvent | c.DoseChangeEvent)
        ),
        None,
    )
    if move is None:
        return  # corrected or withdrawn at once: nothing to move
    label = load_label(course.label)
    as_of = max(on, move.date)
    plan = plan_as_of(course, label, as_of, policy=policy or SitePolicy()).plan
    if isinstance(move, c.DoseChangeEvent):
        _check_dose_change(course, move, plan, label, as_of, field)
        return
    if move.to is None:
        return
    given = next(
        (a for a in course.administrations() if (a.cycle, a.day) == (move.cycle, move.day)), None
    )
    where = f"{field}.to"
    what = f"cycle {move.cycle} day {move.day}"
    if given is not None:
        raise InvalidInput(
            where, f"{what} was given on {given.date.isoformat()}; a dose given is not moved"
        )
    found = plan.move(move.cycle, move.day)
    if found is None:
        raise InvalidInput(
            where,
            f"{what} is not a dose still planned as of {as_of.isoformat()} (the course's "
            f"decision and plan leave it out); nothing to move ({label.regimen.citation})",
        )
    if not found.applied:
        raise InvalidInput(
            where,
            f"{what} cannot move to {move.to.isoformat()}: {found.why_not} "
            f"({label.regimen.citation})",
        )


def _check_dose_change(
    course: c.Course, change: c.DoseChangeEvent, plan: Any, label: Any, as_of: date, field: str
) -> None:
    what = f"cycle {change.cycle} day {change.day}"
    where = f"{field}.dose_mg_per_m2"
    given = next(
        (a for a in course.administrations() if (a.cycle, a.day) == (change.cycle, change.day)),
        None,
    )
    if given is not None:
        raise InvalidInput(
            where, f"{what} was given on {given.date.isoformat()}; a dose given is not changed"
        )
    planned = plan.dose(change.cycle, change.day)
    found = plan.dose_change(change.cycle, change.day)
    if found is None or planned is None or planned.status not in ("planned", "held"):
        raise InvalidInput(
            where,
            f"{what} is not a dose still planned as of {as_of.isoformat()}; nothing to change "
            f"({label.regimen.citation})",
        )
    if not found.applied:
        raise InvalidInput(
            where,
            f"a dose change may only lower the dose: the label gives {found.label_mg_per_m2} "
            f"mg/m2 for {what}, not more than {change.dose_mg_per_m2} "
            f"({label.regimen.citation})",
        )


def check_decidable(
    course: c.Course,
    document: Mapping[str, Any],
    dates: Iterable[date],
    *,
    field: str,
    policy: SitePolicy | None = None,
) -> dict[date, dict[str, Any]]:
    """Plan and decide the would-be course as the endpoints do; refuse if that fails.

    Returns the decision (docs/decision.md JSON) for each of ``dates``, so that the write can
    store the one for its day with the course (``inoplan.services.decision_store``).

    The plan (as of today, as the plan endpoint lays it out) and today's decision come from one
    evaluation (``services.courses.plan_and_decide``); every other date is decided on its own.
    ``document`` is the would-be document (kept for callers; the course is planned from
    ``course``, already parsed from it). An ``InvalidInput`` raised while deciding keeps its
    message (a height and weight that do not belong together); anything else is logged and
    refused naming ``field``.
    """
    from inoplan.services.common import to_json_value
    from inoplan.services.courses import decide_course, plan_and_decide, today

    policy = policy or SitePolicy()
    results: dict[date, dict[str, Any]] = {}
    try:
        on = today()
        planned, decided = plan_and_decide(course, on, policy=policy)
        to_json_value(planned)
        for day in sorted(set(dates)):
            results[day] = to_json_value(
                decided if day == on else decide_course(course, day, policy=policy)
            )
    except InvalidInput as exc:
        raise InvalidInput(
            _map_field(exc.field, field), f"{exc.message} (the course would not be decidable)"
        ) from None
    except Exception as exc:  # an engine failure must refuse the write, never break the course
        log.exception("course not decidable with this entry")
        raise InvalidInput(
            field,
            "with this entry the course could not be planned or decided "
            f"({type(exc).__name__}); nothing was saved. Check the dates and values.",
        ) from None
    return results


def _map_field(found: str, default: str) -> str:
    """Keep a field that names a place in the document; anything else is the write's field."""
    return found if found.startswith(("events[", "patient.", "plan.")) else default
