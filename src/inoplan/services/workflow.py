"""Treatment-day states: each dose goes ordered -> released -> verified -> prepared -> given.

Like an oncology EHR's treatment plan (Epic Beacon is the reference), a dose has a visible
state, and each step is one person's act with its own permission (docs/permissions.md):

=========  ==================  ====================  =========================================
step       from -> to          who                   what is checked and recorded
=========  ==================  ====================  =========================================
release    ordered->released   ``dose.release``      the engine's decision for today is "give"
                               (prescriber)          for exactly this cycle and day (a held,
                                                     discontinued or undecidable day is refused
                                                     with the decision's reason); the dose, the
                                                     decision and the day's lab parameters
verify     released->verified  ``dose.verify``       the decision is still "give" for the day;
                               (pharmacist)          the dose verified equals the dose released
prepare    verified->prepared  ``dose.prepare``      still "give"; lot, expiry (not expired),
                               (pharmacist) and a    time, the worksheet's numbers; a second
                               second signer         signer (another user, password re-entered,
                               ``dose.cosign_prepare``  throttled like a login)
give       prepared->given     ``dose.give`` (nurse)  still "give" at the prepared dose; the
                               and a second signer   infusion ends within the label's time from
                                                     reconstitution; no time after now; the
                                                     administration course-document event is
                                                     appended through ``records.append_event``
                               ``dose.cosign_give``  (write-time guards) in the SAME transaction
                                                     as the state change; start and end, pre-
                                                     medication and observation on the event
                                                     (a reason when short of the label's),
                                                     reactions, end of observation
withdraw   released/verified/  ``dose.withdraw``     a reason; the day is "ordered" again (the
           prepared->ordered                         earlier steps stay in its history)
=========  ==================  ====================  =========================================

A dose without a stored row is "ordered"; a dose recorded as given without this workflow (the
administration form, an import) shows as given. Every transition is a compare-and-set on the
day's ``version`` (the first one an insert, unique per course, cycle and day) written in one
transaction with its audit record, so any number of workers agree and nothing is half-saved.

The roadmap (:func:`roadmap`) lays the engine's plan out as cycles x days with each day's state
and its lab parameters (ANC, platelets, bilirubin, AST, ALT): the values the engine reads as
fresh for that day (``domain.engine.context.Context.fresh``) and whether the rule that uses
them was met, read from the decision's own reasons (Table 2 for counts before a later cycle,
Table 3 and the CTCAE grades for the liver tests), each with its citation. Nothing here
re-implements a threshold.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, NotRequired, TypedDict

from inoplan.domain.course import PREMEDICATION_AGENTS
from inoplan.domain.units import MINUTES_PER_HOUR
from inoplan.errors import Conflict, Forbidden, InvalidInput
from inoplan.services.common import CourseDocumentJson, document_of, to_json_value
from inoplan.services.ports import UnitOfWork, UowFactory
from inoplan.services.render import CycleJson, Number

if TYPE_CHECKING:
    from inoplan.domain.policy import SitePolicy
    from inoplan.services.dosing import DoseJson
    from inoplan.services.render import PlanJson
    from inoplan.services.render_decision import DecisionJson, NextDoseJson

__all__ = [
    "PARAMETERS",
    "STATES",
    "STEPS",
    "ParameterJson",
    "RoadmapCycleJson",
    "RoadmapDayJson",
    "RoadmapJson",
    "SecondSigner",
    "TreatmentDay",
    "WorksheetJson",
    "day_parameters",
    "day_states",
    "give",
    "prepare",
    "release",
    "roadmap",
    "verify",
    "waits_for",
    "withdraw",
]

STATES: Final = ("ordered", "released", "verified", "prepared", "given")


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    before: tuple[str, ...]
    after: str
    action: str
    cosign: str | None = None


STEPS: Final[Mapping[str, Step]] = {
    "release": Step("release", ("ordered",), "released", "dose.release"),
    "verify": Step("verify", ("released",), "verified", "dose.verify"),
    "prepare": Step("prepare", ("verified",), "prepared", "dose.prepare", "dose.cosign_prepare"),
    "give": Step("give", ("prepared",), "given", "dose.give", "dose.cosign_give"),
    "withdraw": Step("withdraw", ("released", "verified", "prepared"), "ordered", "dose.withdraw"),
}

#: The lab parameters shown beside each day (docs/decision.md analyte names).
PARAMETERS: Final = ("anc", "platelets", "bilirubin", "ast", "alt")
PARAMETER_NAMES: Final[Mapping[str, str]] = {
    "anc": "ANC",
    "platelets": "Platelets",
    "bilirubin": "Bilirubin",
    "ast": "AST",
    "alt": "ALT",
}
#: The label threshold that each parameter is judged by (its citation is shown).
_THRESHOLD: Final[Mapping[str, str]] = {
    "anc": "anc_recovery",
    "platelets": "platelets_recovery",
    "bilirubin": "bilirubin_x_uln",
    "ast": "ast_alt_x_uln",
    "alt": "ast_alt_x_uln",
}
_STOPPING: Final = ("hold", "discontinue")
_STATUS_WORDS: Final[Mapping[str, str]] = {
    "hold": "to hold the dose",
    "discontinue": "to discontinue treatment",
    "cannot_decide": "that it cannot decide (data needed)",
    "wait": "that no dose is due",
    "complete": "that the course is complete",
}
#: A dose's mg agree when they differ by less than half the rounding step of the dose.
_MG_TOLERANCE: Final = Decimal("0.005")


@dataclass(frozen=True, slots=True)
class TreatmentDay:
    """The stored state of one dose (a dose without a row is "ordered")."""

    course_id: int
    cycle: int
    day: int
    state: str
    version: int
    steps: dict[str, Any] = field(default_factory=dict)
    updated_at: datetime | None = None
    updated_by: str = ""


class ParameterJson(TypedDict):
    """One lab parameter of a day (:func:`day_parameters`); ``why`` only when not met."""

    analyte: str
    name: str
    value: Number | None
    unit: str | None
    date: str | None
    x_uln: Number | None
    state: str  # met | not_met | missing | not_a_criterion
    citation: str
    why: NotRequired[str]


class WorksheetJson(TypedDict):
    """The preparation numbers stored with the "prepared" step (``services.dosing.dose_json``)."""

    dose_mg: Number | None
    bsa_m2: Number | None
    vial: str
    vials: int
    withdraw_ml: Number | None
    diluent: str
    diluent_ml: Number | None
    final_volume_ml: Number | None
    concentration_mg_per_ml: Number | None
    infusion_minutes: int
    label_revision: str


class RoadmapDayJson(TypedDict):
    """One dose of the roadmap: the plan's numbers, its state and steps, its parameters."""

    cycle: int
    day: int
    scheduled: str | None
    dose_mg: Number | None
    dose_mg_per_m2: Number | None
    plan_status: str | None
    given_on: str | None
    state: str
    recorded_directly: bool
    recorded_as: str | None  # a dose given without the workflow: "override" or "history"
    due: bool
    next: bool
    steps: dict[str, Any]  # what each step recorded (by state), as stored
    version: int
    parameters: list[ParameterJson]
    administration: dict[str, Any] | None  # a given dose's administration event, annotated


class RoadmapCycleJson(CycleJson):
    """A cycle of the plan with its doses' days."""

    days: list[RoadmapDayJson]


class RoadmapJson(TypedDict):
    """``GET /courses/{id}/days``: cycles x days as of ``as_of`` (:func:`roadmap`)."""

    course_id: int
    as_of: str
    decision_status: str | None
    states: list[str]
    cycles: list[RoadmapCycleJson]


@dataclass(frozen=True, slots=True)
class SecondSigner:
    """The independent second signer: their user name and their password, typed by them."""

    username: str
    password: str
    address: str | None = None
    channel: str = "web"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _check_role(role: str | None, action: str) -> None:
    from inoplan.services.auth import can

    if role is not None and not can(role, action):
        raise Forbidden(role, action)


def _label_of(cycle: int, day: int) -> str:
    return f"cycle {cycle} day {day}"


def _check_day(cycle: int, day: int) -> None:
    if not isinstance(cycle, int) or not 1 <= cycle <= 6:
        raise InvalidInput("cycle", "a cycle number from 1 to 6")
    if day not in (1, 8, 15):
        raise InvalidInput("day", "a treatment day: 1, 8 or 15")


# -- reading --------------------------------------------------------------------------------


def day_states(
    uow_factory: UowFactory, course_ids: Sequence[int]
) -> dict[int, dict[tuple[int, int], TreatmentDay]]:
    """The stored days of these courses, by course and (cycle, day); one query."""
    out: dict[int, dict[tuple[int, int], TreatmentDay]] = {i: {} for i in course_ids}
    if not course_ids:
        return out
    with uow_factory() as uow:
        found: list[TreatmentDay] = uow.treatment_days.for_courses(list(course_ids))
    for row in found:
        out.setdefault(row.course_id, {})[(row.cycle, row.day)] = row
    return out


def _load(uow_factory: UowFactory, course_id: int) -> tuple[int, CourseDocumentJson]:
    """The course version and document (raises NotFound)."""
    from inoplan.services.records import course_document

    stored = course_document(uow_factory, course_id)
    return stored["version"], document_of(stored)


def _current(uow_factory: UowFactory, course_id: int, cycle: int, day: int) -> TreatmentDay | None:
    with uow_factory() as uow:
        found: TreatmentDay | None = uow.treatment_days.get(course_id, cycle, day)
    return found


def _state_of(row: TreatmentDay | None) -> str:
    return "ordered" if row is None else row.state


def _check_state(step: Step, row: TreatmentDay | None, cycle: int, day: int) -> None:
    state = _state_of(row)
    if state in step.before:
        return
    who = ""
    if row is not None and row.updated_by:
        who = f" (by {row.updated_by}"
        if row.updated_at is not None:
            who += f" at {row.updated_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        who += ")"
    wanted = " or ".join(step.before)
    raise Conflict(
        f"{_label_of(cycle, day)} is {state}{who}, not {wanted}: it cannot be {step.after} "
        "now; reload the page"
    )


# -- the decision for the day ------------------------------------------------------------------


def _why(decision: Mapping[str, Any]) -> str:
    status = decision.get("status")
    deciding = [r for r in decision.get("reasons") or [] if r.get("verdict") == status]
    return "; ".join(f"{r.get('message', '')} ({r.get('citation', '')})" for r in deciding[:3])


def _decide(document: Mapping[str, Any], on: date, policy: SitePolicy | None) -> DecisionJson:
    from inoplan.services.courses import decide_document

    kwargs = {} if policy is None else {"policy": policy}
    decision: DecisionJson = to_json_value(decide_document(document, on, **kwargs))
    return decision


def _require_give(decision: DecisionJson, cycle: int, day: int, on: date) -> NextDoseJson:
    """The decision's dose for (cycle, day) if the decision for ``on`` is to give it; else the
    refusal names the decision and its reason (Conflict: nothing is written)."""
    status = decision["status"]
    due = decision["next_dose"]
    if status != "give":
        why = _why(decision)
        raise Conflict(
            f"{_label_of(cycle, day)} cannot go ahead: the decision for {on.isoformat()} is "
            f"{_STATUS_WORDS.get(status, status)}" + (f": {why}" if why else "")
        )
    if due is None or (due["cycle"], due["day"]) != (cycle, day):
        due_cycle, due_day = (None, None) if due is None else (due["cycle"], due["day"])
        raise Conflict(
            f"the decision for {on.isoformat()} is to give cycle {due_cycle} day "
            f"{due_day}, not {_label_of(cycle, day)}"
        )
    if due["dose_mg"] is None:
        raise Conflict(f"{_label_of(cycle, day)} has no dose in mg (no BSA): record vitals")
    return due.copy()


def _same_mg(a: Any, b: Any) -> bool:
    return abs(Decimal(str(a)) - Decimal(str(b))) < _MG_TOLERANCE


# -- lab parameters ----------------------------------------------------------------------------


def day_parameters(
    document: Mapping[str, Any],
    decision: Mapping[str, Any],
    on: date,
    *,
    policy: SitePolicy | None = None,
) -> list[ParameterJson]:
    """The lab parameters of the decision's due dose on ``on``: value, whether met, citation.

    ``state`` is ``met``, ``not_met`` (a rule that uses the value holds or stops the dose),
    ``missing`` (no fresh value: the decision cannot decide), or ``not_a_criterion`` (ANC and
    platelets on day 1 of cycle 1 and on days 8 and 15: Table 2 applies to the next cycle).
    """
    from inoplan.domain.engine.context import Context
    from inoplan.domain.policy import SitePolicy
    from inoplan.knowledge.loader import load_label
    from inoplan.services.courses import load_course

    due = decision.get("next_dose") or {}
    if not due:
        return []
    course = load_course(document)
    label = load_label(course.label)
    ctx = Context(course, label, on, policy or SitePolicy())
    reasons = list(decision.get("reasons") or [])
    stale = next((r for r in reasons if r.get("rule") == "data.stale-labs"), None)
    needed = set((stale or {}).get("inputs", {}).get("needed") or [])
    blocked: dict[str, dict[str, Any]] = {}
    for reason in reasons:
        rule = str(reason.get("rule") or "")
        if reason.get("verdict") not in _STOPPING:
            continue
        if rule.startswith("hematologic.") and "not-recovered" in rule:
            blocked.setdefault("anc", reason)
            blocked.setdefault("platelets", reason)
        elif rule == "hepatic.bilirubin-and-transaminases":
            for analyte in ("bilirubin", "ast", "alt"):
                blocked.setdefault(analyte, reason)
        elif rule.startswith("nonhematologic.lab-grade."):
            blocked.setdefault(rule.rsplit(".", 1)[1], reason)
    counts_apply = due.get("day") == 1 and int(due.get("cycle") or 1) > 1
    out: list[ParameterJson] = []
    for analyte in PARAMETERS:
        reading = ctx.fresh(analyte)
        criterion = ctx.cite(_THRESHOLD[analyte]).text
        why: str | None = None
        if analyte in blocked:
            state, citation = "not_met", str(blocked[analyte].get("citation"))
            why = str(blocked[analyte].get("message") or "")
        elif analyte in ("anc", "platelets") and not counts_apply:
            state = "missing" if analyte in needed else "not_a_criterion"
            citation = ctx.cite("dose-mod-hematologic").text
        elif analyte in needed or reading is None:
            state, citation = "missing", ctx.cite("lab_max_age_days").text
        else:
            state, citation = "met", criterion
        value = None if reading is None else reading.value
        entry: ParameterJson = {
            "analyte": analyte,
            "name": PARAMETER_NAMES[analyte],
            "value": None if value is None else float(value.value),
            "unit": None if value is None else value.unit,
            "date": None if reading is None else reading.on.isoformat(),
            "x_uln": (
                float((value.value / value.uln).quantize(Decimal("0.01")))
                if value is not None and value.uln
                else None
            ),
            "state": state,
            "citation": citation,
        }
        if why is not None:
            entry["why"] = why
        out.append(entry)
    return out


# -- writing ---------------------------------------------------------------------------------


def _write(
    uow: UnitOfWork,
    step: Step,
    row: TreatmentDay | None,
    *,
    course_id: int,
    cycle: int,
    day: int,
    record: dict[str, Any],
    actor: str,
    at: datetime,
) -> dict[str, Any]:
    """The compare-and-set and its audit record, inside the caller's transaction."""
    from inoplan.services.audit import append_audit

    steps = dict(row.steps) if row is not None else {}
    if step.name == "withdraw":
        history = list(steps.get("withdrawn") or [])
        history.append({**record, "from": _state_of(row), "earlier": steps})
        steps = {"withdrawn": history}
    else:
        steps[step.after] = record
    steps = to_json_value(steps)
    if row is None:
        won = uow.treatment_days.insert(
            course_id=course_id,
            cycle=cycle,
            day=day,
            state=step.after,
            steps=steps,
            at=at,
            by=actor,
        )
    else:
        won = uow.treatment_days.move(
            course_id=course_id,
            cycle=cycle,
            day=day,
            expected_version=row.version,
            state=step.after,
            steps=steps,
            at=at,
            by=actor,
        )
    if not won:
        raise Conflict(
            f"{_label_of(cycle, day)} was changed by someone else meanwhile; nothing was "
            "saved: reload the page"
        )
    after = {"cycle": cycle, "day": day, "state": step.after, **record}
    append_audit(
        uow,
        actor=actor,
        action=f"dose.{step.name}",
        entity="treatment_day",
        entity_id=f"{course_id}:{cycle}:{day}",
        course_id=course_id,
        before={"state": _state_of(row), "version": 0 if row is None else row.version},
        after=to_json_value(after),
        at=at,
    )
    return after


def _commit(
    uow_factory: UowFactory,
    step: Step,
    row: TreatmentDay | None,
    *,
    course_id: int,
    cycle: int,
    day: int,
    record: dict[str, Any],
    actor: str,
    at: datetime,
) -> TreatmentDay:
    with uow_factory(write=True) as uow:
        _write(
            uow,
            step,
            row,
            course_id=course_id,
            cycle=cycle,
            day=day,
            record=record,
            actor=actor,
            at=at,
        )
        uow.commit()
    moved = _current(uow_factory, course_id, cycle, day)
    assert moved is not None
    return moved


def _note(note: str | None) -> str | None:
    text = (note or "").strip()
    if len(text) > 500:
        raise InvalidInput("note", "at most 500 characters")
    return text or None


def _prepare(
    uow_factory: UowFactory,
    course_id: int,
    cycle: int,
    day: int,
    step: Step,
    role: str | None,
) -> TreatmentDay | None:
    _check_role(role, step.action)
    _check_day(cycle, day)
    row = _current(uow_factory, course_id, cycle, day)
    if row is None:
        _load(uow_factory, course_id)  # NotFound for an unknown course
    _check_state(step, row, cycle, day)
    return row


def release(
    uow_factory: UowFactory,
    course_id: int,
    cycle: int,
    day: int,
    *,
    actor: str,
    role: str | None = None,
    now: datetime | None = None,
    note: str | None = None,
    policy: SitePolicy | None = None,
) -> TreatmentDay:
    """A prescriber releases the dose: the engine's decision for today must be to give it.

    Raises ``Conflict`` (with the decision's reason) for a day on hold, a stopped course, a
    decision that cannot decide, or a decision about another day; ``Forbidden`` for a role
    without ``dose.release``.
    """
    step = STEPS["release"]
    try:
        row = _prepare(uow_factory, course_id, cycle, day, step, role)
    except Conflict:
        _check_dose_missing(uow_factory, course_id, cycle, day)
        raise
    now = now or _utc_now()
    on = now.date()
    version, document = _load(uow_factory, course_id)
    decision = _decide(document, on, policy)
    due = _require_give(decision, cycle, day, on)
    from inoplan.services.records import document_sha256

    record = {
        "by": actor,
        "at": now.astimezone(UTC).isoformat(timespec="seconds"),
        "on": on.isoformat(),
        "decision": "give",
        "reason": _why(decision),
        "dose_mg": due["dose_mg"],
        "dose_mg_per_m2": due.get("dose_mg_per_m2"),
        "bsa_m2": due.get("bsa_m2"),
        "scheduled": due.get("scheduled"),
        "course_version": version,
        "document_sha256": document_sha256(document),
        "label_revision": decision.get("label_revision"),
        "engine_version": decision.get("engine_version"),
        "parameters": day_parameters(document, decision, on, policy=policy),
        "note": _note(note),
    }
    return _commit(
        uow_factory,
        step,
        row,
        course_id=course_id,
        cycle=cycle,
        day=day,
        record=record,
        actor=actor,
        at=now,
    )


def dose_missing(document: Mapping[str, Any], row: TreatmentDay | None) -> bool:
    """The workflow recorded the day as given, but the course has no administration for it
    (withdrawn or corrected away; review H2/H3): WORKFLOW_DOSE_MISSING."""
    from inoplan.document import parse_course

    if row is None or row.state != "given":
        return False
    course = parse_course(document)
    return not any((a.cycle, a.day) == (row.cycle, row.day) for a in course.administrations())


def _check_dose_missing(uow_factory: UowFactory, course_id: int, cycle: int, day: int) -> None:
    """Refuse to release a day the workflow gave whose dose is no longer on the record."""
    from inoplan.knowledge.loader import load_label

    row = _current(uow_factory, course_id, cycle, day)
    if row is None or row.state != "given":
        return
    _, document = _load(uow_factory, course_id)
    if not dose_missing(document, row):
        return
    alert = load_label(str(document.get("label", "us"))).alert("WORKFLOW_DOSE_MISSING")
    raise Conflict(
        f"WORKFLOW_DOSE_MISSING: {_label_of(cycle, day)} was given in the treatment-day workflow "
        f"but its administration was withdrawn or corrected away. {alert.message} Nothing was "
        "released."
    )


def _still_give(
    uow_factory: UowFactory,
    course_id: int,
    row: TreatmentDay,
    cycle: int,
    day: int,
    on: date,
    policy: SitePolicy | None,
) -> tuple[int, CourseDocumentJson, NextDoseJson]:
    """The decision must still be to give this day at the released dose (else Conflict)."""
    version, document = _load(uow_factory, course_id)
    decision = _decide(document, on, policy)
    due = _require_give(decision, cycle, day, on)
    released = (row.steps.get("released") or {}).get("dose_mg")
    if released is None or not _same_mg(released, due["dose_mg"]):
        raise Conflict(
            f"the decision's dose for {_label_of(cycle, day)} is now {due['dose_mg']} mg, not "
            f"the {released} mg released (new vitals or labs?): the prescriber withdraws the "
            "release and releases the dose again"
        )
    return version, document, due


def verify(
    uow_factory: UowFactory,
    course_id: int,
    cycle: int,
    day: int,
    *,
    dose_mg: Any,
    actor: str,
    role: str | None = None,
    now: datetime | None = None,
    note: str | None = None,
    policy: SitePolicy | None = None,
) -> TreatmentDay:
    """A pharmacist verifies the released dose: the mg they checked must equal it."""
    step = STEPS["verify"]
    row = _prepare(uow_factory, course_id, cycle, day, step, role)
    assert row is not None
    now = now or _utc_now()
    mg = _positive_mg(dose_mg)
    released_by = str((row.steps.get("released") or {}).get("by") or "")
    if released_by.strip().casefold() == actor.strip().casefold():
        raise Conflict(
            f"{actor} released this dose: another person verifies it (independent check)"
        )
    version, _, due = _still_give(uow_factory, course_id, row, cycle, day, now.date(), policy)
    if not _same_mg(mg, due["dose_mg"]):
        raise InvalidInput(
            "dose_mg",
            f"{mg} mg differs from the released dose of {due['dose_mg']} mg: not verified; "
            "check the order with the prescriber",
        )
    record = {
        "by": actor,
        "at": now.astimezone(UTC).isoformat(timespec="seconds"),
        "dose_mg": mg,
        "released_dose_mg": due["dose_mg"],
        "course_version": version,
        "note": _note(note),
    }
    return _commit(
        uow_factory,
        step,
        row,
        course_id=course_id,
        cycle=cycle,
        day=day,
        record=record,
        actor=actor,
        at=now,
    )


def _positive_mg(value: Any) -> Decimal:
    try:
        mg = Decimal(str(value).strip().replace(",", "."))
    except Exception:
        raise InvalidInput("dose_mg", "a dose in mg, e.g. 0.91") from None
    if not mg.is_finite() or mg <= 0 or mg > 10:
        raise InvalidInput("dose_mg", "a dose in mg greater than 0 and at most 10")
    return mg


def _cosigner(
    uow_factory: UowFactory,
    throttle: Any,
    signer: SecondSigner | None,
    *,
    action: str,
    actor: str,
    now: datetime,
) -> str:
    from inoplan.services.auth import LoginAttempt, verify_second_signer

    if signer is None:
        raise InvalidInput("second_signer", "a second signer is required for this step")
    user = verify_second_signer(
        uow_factory,
        throttle,
        LoginAttempt(
            username=signer.username,
            password=signer.password,
            address=signer.address,
            channel=signer.channel,
        ),
        action=action,
        actor=actor,
        now=now,
    )
    return str(user.username)


def _took_part(row: TreatmentDay) -> dict[str, str]:
    """Who performed or co-signed each earlier step of this day (casefolded name -> step)."""
    out: dict[str, str] = {}
    for name in ("released", "verified", "prepared"):
        record = row.steps.get(name) or {}
        for key in ("by", "second_signer"):
            who = str(record.get(key) or "").strip()
            if who:
                out.setdefault(who.casefold(), name)
    return out


def _independent(row: TreatmentDay, who: str, field_name: str, what: str) -> None:
    """Independence: ``who`` did no earlier step of this day (ISMP independent double check)."""
    step = _took_part(row).get(who.strip().casefold())
    if step is not None:
        raise InvalidInput(
            field_name,
            f"{who} already {step} this dose: {what} must be someone who took no earlier "
            "step of it (an independent check needs another person)",
        )


_LOT_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-/. ")


def prepare(
    uow_factory: UowFactory,
    course_id: int,
    cycle: int,
    day: int,
    *,
    lot: str,
    expiry: date,
    second_signer: SecondSigner | None,
    throttle: Any,
    actor: str,
    role: str | None = None,
    prepared_at: time | None = None,
    now: datetime | None = None,
    note: str | None = None,
    policy: SitePolicy | None = None,
) -> TreatmentDay:
    """A pharmacist records the preparation (lot, expiry, the worksheet's numbers), with an
    independent second signer who re-enters their password."""
    step = STEPS["prepare"]
    row = _prepare(uow_factory, course_id, cycle, day, step, role)
    assert row is not None
    now = now or _utc_now()
    on = now.date()
    lot_text = (lot or "").strip()
    if not lot_text:
        raise InvalidInput("lot", "the lot number printed on the vial")
    if len(lot_text) > 40 or not set(lot_text) <= _LOT_CHARS:
        raise InvalidInput("lot", "at most 40 letters, digits, spaces, '-', '/' or '.'")
    if not isinstance(expiry, date):
        raise InvalidInput("expiry", "the expiry date printed on the vial, as YYYY-MM-DD")
    if expiry < on:
        raise InvalidInput(
            "expiry",
            f"the product expired on {expiry.isoformat()} (today is {on.isoformat()}): "
            "do not use it",
        )
    prepared_on = datetime.combine(on, prepared_at or now.time(), tzinfo=now.tzinfo)
    _not_after_now("prepared_at", prepared_on, now)
    version, document, due = _still_give(uow_factory, course_id, row, cycle, day, on, policy)
    worksheet = _worksheet(document, due, on, policy)
    cosigner = _cosigner(
        uow_factory, throttle, second_signer, action=step.cosign or "", actor=actor, now=now
    )
    _independent(row, cosigner, "second_signer", "the second signer of the preparation")
    record = {
        "by": actor,
        "second_signer": cosigner,
        "at": now.astimezone(UTC).isoformat(timespec="seconds"),
        "prepared_at": (prepared_at or now.time()).strftime("%H:%M"),
        "prepared_on": prepared_on.astimezone(UTC).isoformat(timespec="seconds"),
        "lot": lot_text,
        "expiry": expiry.isoformat(),
        "dose_mg": due["dose_mg"],
        "worksheet": worksheet,
        "course_version": version,
        "note": _note(note),
    }
    return _commit(
        uow_factory,
        step,
        row,
        course_id=course_id,
        cycle=cycle,
        day=day,
        record=record,
        actor=actor,
        at=now,
    )


def _worksheet(
    document: Mapping[str, Any], due: NextDoseJson, on: date, policy: SitePolicy | None
) -> WorksheetJson:
    """The preparation numbers of the worksheet for this dose (``services.dosing.dose_json``)."""
    from inoplan.domain.policy import SitePolicy
    from inoplan.services.courses import plan_document
    from inoplan.services.dosing import dose_json

    policy = policy or SitePolicy()
    plan = plan_document(document, on, policy=policy)
    if plan.get("height_cm") is None or plan.get("weight_kg") is None:
        raise InvalidInput("vitals", "no height and weight on record: record vitals first")
    numbers: DoseJson = to_json_value(
        dose_json(
            height_cm=plan["height_cm"],
            weight_kg=plan["weight_kg"],
            mg_per_m2=due["dose_mg_per_m2"],
            vial=document.get("plan", {}).get("vial"),
            formula=str(plan.get("bsa_formula", "mosteller")),
            label=str(document.get("label", "us")),
            policy=policy,
        )
    )
    if not _same_mg(numbers["dose_mg"], due["dose_mg"]):
        raise Conflict(
            f"the worksheet's dose ({numbers['dose_mg']} mg) differs from the decision's "
            f"({due['dose_mg']} mg): not prepared; check the latest vitals"
        )
    return {
        "dose_mg": numbers["dose_mg"],
        "bsa_m2": numbers["bsa_m2"],
        "vial": numbers["vial"],
        "vials": numbers["vials"],
        "withdraw_ml": numbers["withdraw_ml"],
        "diluent": numbers["diluent"],
        "diluent_ml": numbers["diluent_ml"],
        "final_volume_ml": numbers["final_volume_ml"],
        "concentration_mg_per_ml": numbers["concentration_mg_per_ml"],
        "infusion_minutes": numbers["infusion_minutes"],
        "label_revision": numbers["label_revision"],
    }


def _not_after_now(name: str, when: datetime, now: datetime) -> None:
    """A past-tense time may not lie after the clinic's clock (guards' clock tolerance)."""
    from inoplan.services.guards import FUTURE_TOLERANCE

    if when > now + FUTURE_TOLERANCE:
        raise InvalidInput(
            name,
            f"{when.strftime('%H:%M')} is after the time now ({now.strftime('%H:%M')}): "
            "record what has happened",
        )


def _prepared_on(prepared: Mapping[str, Any]) -> datetime:
    """When the dose was reconstituted (older records: the day of the step at ``prepared_at``)."""
    if prepared.get("prepared_on"):
        return datetime.fromisoformat(str(prepared["prepared_on"]))
    at = datetime.fromisoformat(str(prepared["at"]))
    return datetime.combine(at.date(), time.fromisoformat(str(prepared["prepared_at"])), at.tzinfo)


def _minutes(start: time, end: time) -> int:
    return (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)


def _premedication(value: Any) -> tuple[str, ...]:
    """The agents given: ``True`` all of the label's, ``False`` none, else a list of them."""
    if isinstance(value, bool):
        return PREMEDICATION_AGENTS if value else ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidInput("premedication", f"yes, no, or the agents given: {_AGENT_WORDS}")
    unknown = [a for a in value if a not in PREMEDICATION_AGENTS]
    if unknown:
        raise InvalidInput(
            "premedication", f"unknown agent {unknown[0]!r}: name them from {_AGENT_WORDS}"
        )
    return tuple(a for a in PREMEDICATION_AGENTS if a in value)


_AGENT_WORDS: Final = ", ".join(PREMEDICATION_AGENTS)


def _reason_text(name: str, value: str | None) -> str | None:
    text = (value or "").strip()
    if len(text) > 500:
        raise InvalidInput(name, "at most 500 characters")
    return text or None


def give(
    uow_factory: UowFactory,
    course_id: int,
    cycle: int,
    day: int,
    *,
    started_at: time,
    ended_at: time,
    premedication: bool | Sequence[str],
    observation_end: time,
    second_signer: SecondSigner | None,
    throttle: Any,
    actor: str,
    role: str | None = None,
    reactions: str | None = None,
    premedication_reason: str | None = None,
    observation_reason: str | None = None,
    now: datetime | None = None,
    note: str | None = None,
    policy: Any = None,
) -> TreatmentDay:
    """A nurse records the administration with an independent second signer.

    The administration event (date today, the prepared dose, start time and duration, the
    premedication given and the minutes observed after the infusion) is appended through
    ``records.append_event`` (the write-time guards run: a dose against the decision is
    refused) and the day moves to "given" in the same transaction.

    ``premedication`` is the agents given (``PREMEDICATION_AGENTS``; ``True``: all of them,
    ``False``: none). Premedication not given in full needs ``premedication_reason``, an
    observation shorter than the label's (``threshold.observation_hours``) needs
    ``observation_reason``; each is then a warning on the course's decisions
    (``PREMEDICATION_NOT_GIVEN``, ``OBSERVATION_SHORT``). The facts live on the event only
    (docs/course-document.md section 6.3); the step record names the event.
    """
    from inoplan.domain.dosing import end_of_infusion_deadline
    from inoplan.knowledge.loader import load_label
    from inoplan.services.records import WorkflowGive, append_event

    step = STEPS["give"]
    row = _prepare(uow_factory, course_id, cycle, day, step, role)
    assert row is not None
    now = now or _utc_now()
    for name, value in (
        ("started_at", started_at),
        ("ended_at", ended_at),
        ("observation_end", observation_end),
    ):
        if not isinstance(value, time):
            raise InvalidInput(name, "a time as HH:MM")
    duration = _minutes(started_at, ended_at)
    if duration <= 0:
        raise InvalidInput("ended_at", "the infusion ends after it starts (same day)")
    if _minutes(ended_at, observation_end) < 0:
        raise InvalidInput("observation_end", "the observation ends after the infusion ends")
    agents = _premedication(premedication)
    missing = [a for a in PREMEDICATION_AGENTS if a not in agents]
    premedication_why = _reason_text("premedication_reason", premedication_reason)
    observation_why = _reason_text("observation_reason", observation_reason)
    if missing and premedication_why is None:
        raise InvalidInput(
            "premedication_reason",
            f"not given: {', '.join(missing)}; say why (the label asks for a corticosteroid, "
            "an antipyretic and an antihistamine before every dose)",
        )
    reaction_text = (reactions or "").strip()
    if len(reaction_text) > 500:
        raise InvalidInput("reactions", "at most 500 characters")
    prepared = row.steps.get("prepared") or {}
    if prepared.get("dose_mg") is None:
        raise Conflict(f"{_label_of(cycle, day)} has no preparation record")
    started_on = datetime.combine(now.date(), started_at, tzinfo=now.tzinfo)
    _not_after_now("started_at", started_on, now)
    # Today's decision must still be to give this day at the prepared dose (as verify/prepare).
    version, document, due = _still_give(
        uow_factory, course_id, row, cycle, day, now.date(), policy
    )
    if not _same_mg(prepared["dose_mg"], due["dose_mg"]):
        raise Conflict(
            f"the decision's dose for {_label_of(cycle, day)} is now {due['dose_mg']} mg, not "
            f"the {prepared['dose_mg']} mg prepared: not given; withdraw and release again"
        )
    label = load_label(str(document.get("label", "us")))
    reconstituted = _prepared_on(prepared)
    deadline = end_of_infusion_deadline(reconstituted, label)
    ended_on = datetime.combine(now.date(), ended_at, tzinfo=now.tzinfo)
    if ended_on > deadline:
        raise Conflict(
            f"the dose was reconstituted at {reconstituted.isoformat(timespec='minutes')}; "
            f"its infusion must end by {deadline.isoformat(timespec='minutes')} "
            f"({label.preparation.timing_citation.text}): not given; discard it, withdraw "
            "the preparation and prepare a new dose"
        )
    observation = label.threshold("observation_hours")
    required = observation.number * MINUTES_PER_HOUR
    observed = _minutes(ended_at, observation_end)
    if observed < required and observation_why is None:
        raise InvalidInput(
            "observation_reason",
            f"observed {observed} minutes after the infusion, fewer than the label's "
            f"{required:f} ({observation.citation.text}): say why",
        )
    cosigner = _cosigner(
        uow_factory, throttle, second_signer, action=step.cosign or "", actor=actor, now=now
    )
    _independent(row, cosigner, "second_signer", "the second signer of the administration")
    event = {
        "id": f"c{cycle}d{day}-given-{secrets.token_hex(3)}",
        "date": now.date().isoformat(),
        "type": "administration",
        "cycle": cycle,
        "day": day,
        "dose_mg": float(prepared["dose_mg"]),
        "time": started_at.strftime("%H:%M"),
        "duration_min": duration,
        "premedication": list(agents),
        "observation_min": observed,
    }
    if missing:
        event["premedication_reason"] = premedication_why
    if observed < required:
        event["observation_reason"] = observation_why
    record = {
        "by": actor,
        "second_signer": cosigner,
        "at": now.astimezone(UTC).isoformat(timespec="seconds"),
        "on": now.date().isoformat(),
        "dose_mg": prepared["dose_mg"],
        "lot": prepared.get("lot"),
        "started_at": started_at.strftime("%H:%M"),
        "ended_at": ended_at.strftime("%H:%M"),
        "reactions": reaction_text or None,
        "observation_end": observation_end.strftime("%H:%M"),
        "event_id": event["id"],
        "note": _note(note),
    }

    def move(uow: UnitOfWork, position: int) -> dict[str, Any]:
        _write(
            uow,
            step,
            row,
            course_id=course_id,
            cycle=cycle,
            day=day,
            record={**record, "event_position": position},
            actor=actor,
            at=now,
        )
        return {"treatment_day": {"cycle": cycle, "day": day, "state": step.after}}

    append_event(
        uow_factory,
        course_id,
        event,
        expected_version=version,
        actor=actor,
        role=role,
        now=now,
        policy=policy,
        within=move,
        workflow_give=WorkflowGive(cycle, day),  # this step's own dose: not a direct one
    )
    moved = _current(uow_factory, course_id, cycle, day)
    assert moved is not None
    return moved


def withdraw(
    uow_factory: UowFactory,
    course_id: int,
    cycle: int,
    day: int,
    *,
    reason: str,
    actor: str,
    role: str | None = None,
    now: datetime | None = None,
) -> TreatmentDay:
    """Return a released, verified or prepared dose to "ordered" (a reason is required)."""
    step = STEPS["withdraw"]
    row = _prepare(uow_factory, course_id, cycle, day, step, role)
    now = now or _utc_now()
    text = (reason or "").strip()
    if not text:
        raise InvalidInput("reason", "say why the dose goes back to ordered")
    if len(text) > 500:
        raise InvalidInput("reason", "at most 500 characters")
    record = {"by": actor, "at": now.astimezone(UTC).isoformat(timespec="seconds"), "reason": text}
    return _commit(
        uow_factory,
        step,
        row,
        course_id=course_id,
        cycle=cycle,
        day=day,
        record=record,
        actor=actor,
        at=now,
    )


# -- roadmap and worklist ----------------------------------------------------------------------


#: What a course waits for, by the state of its due dose (and who does it).
WAITS: Final[Mapping[str, tuple[str, str, str]]] = {
    "labs": ("labs", "Labs", "event.labs"),
    "decision": ("decision", "Data for the decision", "event.labs"),
    "ordered": ("release", "Release (prescriber)", "dose.release"),
    "released": ("verification", "Pharmacist verification", "dose.verify"),
    "verified": ("preparation", "Preparation and double check", "dose.prepare"),
    "prepared": ("administration", "Administration and double check", "dose.give"),
    # the decision gives a day the workflow recorded as given: its dose was taken back
    "given": (
        "dose_missing",
        "WORKFLOW_DOSE_MISSING: given in the workflow, no dose on the record (prescriber)",
        "dose.override",
    ),
}


def waits_for(decision: Mapping[str, Any], row: TreatmentDay | None) -> tuple[str, str, str] | None:
    """(key, words, action) of what the course waits for today, or None (nothing due).

    A due dose ("give") waits for the next step of its state; a decision that cannot decide
    waits for labs when labs are stale or missing, else for the data it names; a held dose
    waits for nobody's step (the hold is shown instead).
    """
    status = decision.get("status")
    if status == "cannot_decide":
        rules = {str(r.get("rule")) for r in decision.get("reasons") or []}
        return WAITS["labs"] if "data.stale-labs" in rules else WAITS["decision"]
    if status != "give":
        return None
    due = decision.get("next_dose") or {}
    state = _state_of(row)
    if row is not None and (row.cycle, row.day) != (due.get("cycle"), due.get("day")):
        state = "ordered"
    return WAITS.get(state)


def _recorded_as(document: Mapping[str, Any], key: tuple[int, int]) -> str:
    """How a dose given without the workflow came in: a prescriber's ``override`` (a dose given
    outside the workflow, with its reason) or ``history`` (stored with the course: an import,
    doses given before the course was recorded here; also a direct dose recorded before the
    workflow was required, review H2)."""
    given: Mapping[str, Any] = next(
        (
            e
            for e in reversed(document.get("events") or [])
            if e.get("type") == "administration" and (e.get("cycle"), e.get("day")) == key
        ),
        {},
    )
    return "override" if given.get("override_reason") else "history"


#: What the roadmap shows of a dose's administration event (the one place these facts live).
_ADMINISTRATION_FIELDS: Final = (
    "id",
    "date",
    "dose_mg",
    "time",
    "duration_min",
    "premedication",
    "premedication_reason",
    "observation_min",
    "observation_reason",
)


def _administrations(document: Mapping[str, Any]) -> dict[Any, Mapping[str, Any]]:
    """The administration events by id and by (cycle, day), later entries winning."""
    out: dict[Any, Mapping[str, Any]] = {}
    for event in document.get("events") or ():
        if isinstance(event, Mapping) and event.get("type") == "administration":
            out[(event.get("cycle"), event.get("day"))] = event
            if event.get("id"):
                out[str(event["id"])] = event
    return out


def _administration_of(
    administrations: Mapping[Any, Mapping[str, Any]],
    row: TreatmentDay | None,
    key: tuple[int, int],
    required: Any,
) -> dict[str, Any] | None:
    """The administration event of a given dose: the one its give step appended, else the one
    recorded for its cycle and day (recorded directly). With the premedication missing and the
    observation required, so that a page shows them without the label."""
    given = (row.steps.get("given") if row is not None else None) or {}
    event = administrations.get(str(given.get("event_id") or "")) or administrations.get(key)
    if event is None:
        return None
    out = {name: event.get(name) for name in _ADMINISTRATION_FIELDS}
    agents = event.get("premedication")
    out["premedication_missing"] = (
        None if agents is None else [a for a in PREMEDICATION_AGENTS if a not in agents]
    )
    minutes = event.get("observation_min")
    out["observation_required_min"] = int(required.number * MINUTES_PER_HOUR)
    out["observation_short"] = minutes is not None and minutes < required.number * MINUTES_PER_HOUR
    out["citation"] = required.citation.text
    return out


def roadmap(
    uow_factory: UowFactory,
    course_id: int,
    on: date,
    *,
    decision: Mapping[str, Any] | None = None,
    plan: PlanJson | None = None,
    document: Mapping[str, Any] | None = None,
    policy: SitePolicy | None = None,
) -> RoadmapJson:
    """Cycles x days: each dose's state, its steps, and its lab parameters.

    ``decision``, ``plan`` and ``document`` (the course page has them already) are the
    engine's for ``on`` and the stored course;
    the parameters of a released day are those stored at its release, of the due day those of
    today's decision; later days have none yet.
    """
    from inoplan.knowledge.loader import load_label
    from inoplan.services.courses import plan_document

    if document is None:
        _, document = _load(uow_factory, course_id)
    kwargs = {} if policy is None else {"policy": policy}
    if decision is None:
        decision = _decide(document, on, policy)
    if plan is None:
        plan = to_json_value(plan_document(document, on, **kwargs))
    rows = day_states(uow_factory, [course_id]).get(course_id, {})
    due = decision.get("next_dose") or {}
    due_key = (due.get("cycle"), due.get("day"))
    due_today = bool(due.get("due"))  # the decision is about this dose today (else: next one)
    today_parameters: list[ParameterJson] | None = None
    administrations = _administrations(document)
    required = load_label(str(document.get("label", "us"))).threshold("observation_hours")
    cycles: list[RoadmapCycleJson] = []
    for cycle in plan["cycles"]:
        days: list[RoadmapDayJson] = []
        for dose in (d for d in plan["doses"] if d["cycle"] == cycle["cycle"]):
            key = (dose["cycle"], dose["day"])
            row = rows.get(key)
            state = _state_of(row)
            direct = False
            recorded_as = None
            if dose.get("given_on") and state != "given":
                state, direct = "given", True  # recorded without the workflow
                recorded_as = _recorded_as(document, key)
            released = (row.steps.get("released") if row is not None else None) or {}
            parameters: list[ParameterJson] | None = (
                released.get("parameters") if state != "ordered" else None
            )
            if parameters is None and key == due_key and due_today and state == "ordered":
                if today_parameters is None:
                    today_parameters = day_parameters(document, decision, on, policy=policy)
                parameters = today_parameters
            days.append(
                {
                    "cycle": dose["cycle"],
                    "day": dose["day"],
                    "scheduled": dose["scheduled"],
                    "dose_mg": dose["dose_mg"],
                    "dose_mg_per_m2": dose["dose_mg_per_m2"],
                    "plan_status": dose["status"],
                    "given_on": dose["given_on"],
                    "state": state,
                    "recorded_directly": direct,
                    "recorded_as": recorded_as,
                    "due": key == due_key and due_today,
                    "next": key == due_key,
                    "steps": dict(row.steps) if row is not None else {},
                    "version": row.version if row is not None else 0,
                    "parameters": parameters or [],
                    "administration": _administration_of(administrations, row, key, required)
                    if state == "given"
                    else None,
                }
            )
        cycles.append({**cycle, "days": days})
    return {
        "course_id": course_id,
        "as_of": on.isoformat(),
        "decision_status": decision.get("status"),
        "states": list(STATES),
        "cycles": cycles,
    }
