"""The course calendar: every dose of every cycle up to the cap, rebuilt from what was given.

Actual administrations are the truth: a cycle starts on its day 1 as given, days 8 and 15 are
placed from that start, and later cycles follow from the last actual start. Doses not yet given
are planned (docs/cli.md, ``inoplan plan``). The decision engine reuses this calendar and
passes its own verdicts back in (``adjustments``, ``statuses``). Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from decimal import Decimal

from inoplan.domain.body import Body, BsaFormula, bsa_m2
from inoplan.domain.course import (
    AdministrationEvent,
    Course,
    DiscontinuationEvent,
    DoseChangeEvent,
    RescheduleEvent,
    ResponseEvent,
    VitalsEvent,
    events_memo,
)
from inoplan.domain.dosing import check_cycle_total, check_dose, dose_mg
from inoplan.domain.label import Citation, Label
from inoplan.domain.policy import SitePolicy
from inoplan.errors import InvalidInput

__all__ = [
    "BodyUsed",
    "CycleAdjustment",
    "CyclePlan",
    "DoseChange",
    "Move",
    "PlannedDose",
    "TreatmentPlan",
    "body_used",
    "check_date",
    "in_remission_before",
    "plan_course",
]


#: Dates a course may be planned or decided for: its calendar runs about 7 cycles (~6 months)
#: past the date, which must stay inside what ``datetime.date`` can hold.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(9000, 12, 31)


def check_date(on: date, field: str = "on") -> None:
    """Refuse a date the calendar cannot be computed for (an input error, never a crash)."""
    if not EARLIEST_DATE <= on <= LATEST_DATE:
        raise InvalidInput(
            field,
            f"{on.isoformat()} is outside the dates inoplan plans and decides for "
            f"({EARLIEST_DATE.isoformat()} to {LATEST_DATE.isoformat()})",
        )


@dataclass(frozen=True, slots=True)
class CycleAdjustment:
    """A change the rules made to one cycle (Table 4): a dose factor and the days kept."""

    factor: Decimal = Decimal(1)
    days: tuple[int, ...] | None = None  # None = all regimen days
    reason: str = ""


@dataclass(frozen=True, slots=True)
class PlannedDose:
    cycle: int
    day: int
    scheduled: date
    earliest: date
    latest: date | None
    dose_mg_per_m2: Decimal
    dose_mg: Decimal | None  # given mg when given, else calculated mg (None without a BSA)
    calculated_dose_mg: Decimal | None
    status: str  # given | planned | held | omitted
    provisional: bool
    given_on: date | None = None
    given_mg: Decimal | None = None
    time: time = time(9, 0)
    duration_min: int = 60
    schedule_id: str = ""
    limited_from: Decimal | None = None  # the scheduled mg/m2, when capped by a hard limit

    @property
    def key(self) -> tuple[int, int]:
        return (self.cycle, self.day)


@dataclass(frozen=True, slots=True)
class CyclePlan:
    cycle: int
    start: date
    length_days: int
    schedule_id: str
    in_remission: bool
    provisional: bool
    started: bool  # day 1 given


@dataclass(frozen=True, slots=True)
class BodyUsed:
    height_cm: Decimal | None
    weight_kg: Decimal | None
    height_on: date | None
    weight_on: date | None
    bsa_m2: Decimal | None
    formula: BsaFormula


@dataclass(frozen=True, slots=True)
class Move:
    """A treatment day moved by the prescriber (a ``reschedule`` entry) and whether the planner
    applied it: only inside the label's window (days 8 and 15: the scheduled day +/- the window
    and at least the minimum gap after the previous dose; day 1: delayed, never brought
    forward). ``earliest``/``latest`` are the window the move was judged against."""

    cycle: int
    day: int
    to: date
    reason: str
    applied: bool
    earliest: date | None = None
    latest: date | None = None
    why_not: str = ""


@dataclass(frozen=True, slots=True)
class DoseChange:
    """A treatment day's dose lowered by the prescriber (a ``dose_change`` entry) and whether the
    planner applied it: only a dose below the one the label (with its Table 4 changes) gives."""

    cycle: int
    day: int
    mg_per_m2: Decimal
    reason: str
    applied: bool
    label_mg_per_m2: Decimal


@dataclass(frozen=True, slots=True)
class TreatmentPlan:
    doses: tuple[PlannedDose, ...]
    cycles: tuple[CyclePlan, ...]
    cycle_cap: int
    body: BodyUsed
    rounding: str
    discontinued_on: date | None
    notes: tuple[str, ...] = ()
    citations: tuple[Citation, ...] = field(default_factory=tuple)
    moves: tuple[Move, ...] = ()
    dose_changes: tuple[DoseChange, ...] = ()

    def dose_change(self, cycle: int, day: int) -> DoseChange | None:
        return next((c for c in self.dose_changes if (c.cycle, c.day) == (cycle, day)), None)

    def move(self, cycle: int, day: int) -> Move | None:
        return next((m for m in self.moves if m.cycle == cycle and m.day == day), None)

    def dose(self, cycle: int, day: int) -> PlannedDose | None:
        return next((d for d in self.doses if d.cycle == cycle and d.day == day), None)

    def given(self) -> tuple[PlannedDose, ...]:
        return tuple(d for d in self.doses if d.status == "given")


def body_used(
    course: Course, formula: BsaFormula, policy: SitePolicy, *, on: date | None = None
) -> BodyUsed:
    """Latest height and weight (each from its own latest record) on or before ``on``."""
    key = ("body_used", formula, policy.rounding.bsa_step_m2, on)
    memo = events_memo(course)
    found: BodyUsed | None = memo.get(key)
    if found is None:
        found = memo[key] = _body_used(course, formula, policy, on)
    return found


def _body_used(
    course: Course, formula: BsaFormula, policy: SitePolicy, on: date | None
) -> BodyUsed:
    height = weight = None
    height_on = weight_on = None
    for event in course.of_type(VitalsEvent):
        if on is not None and event.date > on:
            break
        if event.height_cm is not None:
            height, height_on = event.height_cm, event.date
        if event.weight_kg is not None:
            weight, weight_on = event.weight_kg, event.date
    bsa = None
    if height is not None and weight is not None:
        body = Body(height_cm=height, weight_kg=weight)  # raises naming the implausible field
        bsa = bsa_m2(body, formula, step=policy.rounding.bsa_step_m2)
    return BodyUsed(height, weight, height_on, weight_on, bsa, formula)


def in_remission_before(course: Course, label: Label, day: date) -> tuple[bool, bool]:
    """Whether the latest response dated on or before ``day`` is CR/CRi; and whether any is
    known. A response recorded on the day a dose is due applies to that dose.

    Interpretation (recorded in the label file): a relapse after a remission returns the patient
    to the not-in-remission regimen.
    """
    latest: ResponseEvent | None = None
    for event in course.of_type(ResponseEvent):
        if event.date <= day:
            latest = event
    if latest is None:
        return False, False
    return latest.status in label.regimen.remission_statuses, True


def plan_course(
    course: Course,
    label: Label,
    *,
    policy: SitePolicy = SitePolicy(),
    adjustments: Mapping[int, CycleAdjustment] | None = None,
    statuses: Mapping[tuple[int, int], str] | None = None,
    body: BodyUsed | None = None,
    extra_cycles: int = 0,
    starts: Mapping[int, date] | None = None,
) -> TreatmentPlan:
    """Lay out the course: cycles up to the cap, doses with windows, statuses and mg.

    Parameters
    ----------
    course, label
        The validated course and its label revision.
    policy
        Rounding and other site choices.
    adjustments
        Per-cycle changes from the dose-modification rules (factor, days kept).
    statuses
        ``held`` / ``omitted`` verdicts of the engine for doses not given.
    body
        The height/weight to dose with; default: the latest on record.
    extra_cycles
        Cycles beyond the cap to lay out (the engine's optional third pre-HSCT cycle).
    starts
        A later start for a cycle whose day 1 is not given yet (the engine's delayed day 1);
        the regimen then follows the responses known before that date.
    """
    adjustments = adjustments or {}
    statuses = statuses or {}
    starts = starts or {}
    regimen = label.regimen
    given = {(a.cycle, a.day): a for a in course.of_type(AdministrationEvent)}
    cap = label.cycle_cap(course.plan.hsct_intended) + extra_cycles
    last_cycle_given = max((c for c, _ in given), default=0)
    if (
        course.plan.hsct_intended
        and label.caps.hsct_third_cycle_option
        and last_cycle_given == label.caps.hsct_intended + 1
    ):
        cap = max(cap, last_cycle_given)  # the optional third cycle, chosen by the clinician
    if given and last_cycle_given > cap:
        last = max(c for c, _ in given)
        raise InvalidInput(
            "events", f"cycle {last} is recorded as given but this plan allows {cap} cycles"
        )
    body = body or body_used(course, course.plan.bsa_formula, policy)
    stop = next((e.date for e in course.of_type(DiscontinuationEvent)), None)
    last_given_key = max(given) if given else None
    wanted_moves = {(e.cycle, e.day): e for e in course.of_type(RescheduleEvent)}  # latest wins
    moves: list[Move] = []
    wanted_doses = {(e.cycle, e.day): e for e in course.of_type(DoseChangeEvent)}  # latest wins
    dose_changes: list[DoseChange] = []

    doses: list[PlannedDose] = []
    cycles: list[CyclePlan] = []
    previous_dose_on: date | None = None
    start = course.plan.start_date
    window = timedelta(days=regimen.day_window_days)
    gap = timedelta(days=regimen.min_days_between_doses)
    for cycle in range(1, cap + 1):
        first = given.get((cycle, 1))
        if first is not None:
            start = first.date
        else:
            if previous_dose_on is not None and start < previous_dose_on + gap:
                start = previous_dose_on + gap  # keep 6 days after a late previous dose
            wanted = wanted_moves.get((cycle, 1))
            if wanted is not None and wanted.to is not None:
                if wanted.to >= start:  # day 1 may be delayed (for recovery), not advanced
                    moves.append(Move(cycle, 1, wanted.to, wanted.reason or "", True, start))
                    start = wanted.to
                else:
                    moves.append(
                        Move(
                            cycle,
                            1,
                            wanted.to,
                            wanted.reason or "",
                            False,
                            start,
                            why_not=f"day 1 may be delayed, not brought forward: not before "
                            f"{start.isoformat()}",
                        )
                    )
            if cycle in starts and starts[cycle] > start:
                start = starts[cycle]  # day 1 delayed (e.g. waiting for recovery)
        length = course.plan.cycle1_days if cycle == 1 else regimen.later_cycle_days
        if stop is not None and first is None and start >= stop:
            break
        remission = in_remission_before(course, label, start)[0] if cycle > 1 else False
        schedule = label.schedule_for(cycle, in_remission=remission)
        adjustment = adjustments.get(cycle, CycleAdjustment())
        days = adjustment.days or tuple(d.day for d in schedule.doses)
        provisional_cycle = cycle > 1 and first is None and not remission
        cycles.append(
            CyclePlan(
                cycle, start, length, schedule.id, remission, provisional_cycle, first is not None
            )
        )
        cycle_mg_per_m2 = []
        for scheduled_dose in schedule.doses:
            day = scheduled_dose.day
            if day not in days:
                continue
            mg_per_m2 = check_dose(
                scheduled_dose.mg_per_m2 * adjustment.factor, label.limits, field="dose_mg_per_m2"
            )
            lowered = wanted_doses.get((cycle, day))
            if lowered is not None:
                lower = lowered.dose_mg_per_m2 < mg_per_m2
                dose_changes.append(
                    DoseChange(
                        cycle, day, lowered.dose_mg_per_m2, lowered.reason or "", lower, mg_per_m2
                    )
                )
                if lower:
                    mg_per_m2 = lowered.dose_mg_per_m2
            cycle_mg_per_m2.append(mg_per_m2)
            scheduled = start + timedelta(days=day - 1)
            if day == 1:
                earliest, latest = scheduled, None  # day 1 may be delayed for recovery
            else:
                earliest, latest = scheduled - window, scheduled + window
                if previous_dose_on is not None:
                    earliest = max(earliest, previous_dose_on + gap)
                latest = max(latest, earliest)
            administration = given.get((cycle, day))
            wanted = wanted_moves.get((cycle, day)) if day != 1 else None
            if wanted is not None and wanted.to is not None and administration is None:
                inside = latest is not None and earliest <= wanted.to <= latest
                moves.append(
                    Move(
                        cycle,
                        day,
                        wanted.to,
                        wanted.reason or "",
                        inside,
                        earliest,
                        latest,
                        why_not=""
                        if inside
                        else f"outside its window {earliest.isoformat()} to "
                        f"{latest.isoformat() if latest else '-'} (scheduled +/- "
                        f"{regimen.day_window_days} days, at least "
                        f"{regimen.min_days_between_doses} days after the previous dose)",
                    )
                )
                if inside:
                    scheduled = earliest = wanted.to
            calculated = (
                dose_mg(mg_per_m2, body.bsa_m2, label.limits, policy.rounding)
                if body.bsa_m2 is not None
                else None
            )
            if administration is not None:
                status = "given"
            elif (cycle, day) in statuses:
                status = statuses[(cycle, day)]
            elif stop is not None and scheduled >= stop:
                continue  # after a discontinuation nothing more is planned
            elif stop is not None or (last_given_key is not None and (cycle, day) < last_given_key):
                status = "omitted"  # skipped: a later dose was given, or treatment stopped
            else:
                status = "planned"
            doses.append(
                PlannedDose(
                    cycle=cycle,
                    day=day,
                    scheduled=scheduled,
                    earliest=earliest,
                    latest=latest,
                    dose_mg_per_m2=mg_per_m2,
                    dose_mg=administration.dose_mg if administration else calculated,
                    calculated_dose_mg=calculated,
                    status=status,
                    provisional=provisional_cycle and administration is None,
                    given_on=administration.date if administration else None,
                    given_mg=administration.dose_mg if administration else None,
                    time=administration.time if administration else time(9, 0),
                    duration_min=(
                        administration.duration_min if administration else regimen.infusion_minutes
                    ),
                    schedule_id=schedule.id,
                )
            )
            if status == "given" and administration is not None:
                previous_dose_on = administration.date
            elif status in ("planned", "held"):
                # as planned: not before its scheduled day, nor before its (pushed) earliest
                previous_dose_on = max(scheduled, earliest)
        check_cycle_total(cycle_mg_per_m2, label.limits, field=f"cycle {cycle}")
        start = start + timedelta(days=length)

    notes = []
    if body.bsa_m2 is None:
        missing = [
            n
            for n, v in (("height_cm", body.height_cm), ("weight_kg", body.weight_kg))
            if v is None
        ]
        notes.append(f"No dose in mg without {' and '.join(missing)}: record vitals.")
    if any(d.provisional for d in doses):
        notes.append(
            "Later cycles that depend on a response not yet known assume no CR/CRi "
            "(0.8/0.5/0.5 mg/m2) and are provisional."
        )
    for move in moves:
        if move.applied:
            notes.append(
                f"Cycle {move.cycle} day {move.day} moved to {move.to.isoformat()} by the "
                f"prescriber: {move.reason}"
            )
        else:
            notes.append(
                f"The move of cycle {move.cycle} day {move.day} to {move.to.isoformat()} is not "
                f"applied: {move.why_not} ({regimen.citation})."
            )
    for change in dose_changes:
        if change.applied:
            notes.append(
                f"Cycle {change.cycle} day {change.day} lowered to {change.mg_per_m2} mg/m2 by "
                f"the prescriber (label dose {change.label_mg_per_m2} mg/m2): {change.reason}"
            )
        else:
            notes.append(
                f"The dose change of cycle {change.cycle} day {change.day} to "
                f"{change.mg_per_m2} mg/m2 is not applied: it is not below the label's dose "
                f"({change.label_mg_per_m2} mg/m2; {regimen.citation})."
            )
    if course.plan.hsct_intended is None:
        notes.append(label.caps.hsct_undecided_interpretation)
    notes.append(regimen.remission_interpretation)
    return TreatmentPlan(
        doses=tuple(doses),
        cycles=tuple(cycles),
        cycle_cap=cap,
        body=body,
        rounding=policy.rounding.description,
        discontinued_on=stop,
        notes=tuple(notes),
        citations=(regimen.citation, label.caps.citation, label.limits.citation),
        moves=tuple(moves),
        dose_changes=tuple(dose_changes),
    )
