"""Course state: the calendar as of a date, interruptions, Table 4 modifications. Pure.

The calendar is the planner's (``plan_course``); this module only feeds it the engine's
verdicts (omitted doses, per-cycle adjustments) until they agree with what happened.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from inoplan.domain.course import (
    AdministrationEvent,
    Course,
    HsctEvent,
    MedicationEvent,
    ResponseEvent,
)
from inoplan.domain.engine.limits import (
    CycleAllowance,
    RecordedDose,
    allowances,
    cap_plan,
    recorded_doses,
)
from inoplan.domain.engine.qt import medication_ledger, normalise_name
from inoplan.domain.engine.terms import CodedToxicity, latest_by_code
from inoplan.domain.label import Label
from inoplan.domain.planner import (
    BodyUsed,
    CycleAdjustment,
    PlannedDose,
    TreatmentPlan,
    plan_course,
)
from inoplan.domain.policy import SitePolicy

__all__ = [
    "CourseState",
    "Interruption",
    "ModificationStep",
    "build_state",
    "current_medications",
]

REDUCE = "reduce_total_25"
TWO_DOSES = "two_doses_per_cycle"
NOT_TOLERATED = "not_tolerated"


@dataclass(frozen=True, slots=True)
class Interruption:
    """A stretch without the dose that was due (Table 4)."""

    start: date  # scheduled date of the first dose not given on time
    end: date | None  # date of the next dose given; None while it lasts
    length_days: int
    first_missed: tuple[int, int]
    ended_by: tuple[int, int] | None  # dose given at its end
    next_due: tuple[int, int] | None  # while ongoing: the dose now awaited

    @property
    def ongoing(self) -> bool:
        return self.end is None

    @property
    def target_cycle(self) -> int:
        """The first cycle started after the interruption (interpretation in the label file)."""
        cycle, day = self.ended_by or self.next_due or self.first_missed
        return cycle if day == 1 else cycle + 1


@dataclass(frozen=True, slots=True)
class ModificationStep:
    code: str  # reduce_total_25 | two_doses_per_cycle | not_tolerated
    from_cycle: int
    interruption: Interruption

    @property
    def pending(self) -> bool:
        return self.interruption.ongoing


@dataclass(frozen=True, slots=True)
class CourseState:
    on: date
    plan: TreatmentPlan
    next_dose: PlannedDose | None
    next_dose_delayed_plan: PlannedDose | None  # the same dose re-planned for a late day 1
    interruptions: tuple[Interruption, ...]
    steps: tuple[ModificationStep, ...]
    adjustments: Mapping[int, CycleAdjustment]
    engine_omitted: tuple[tuple[int, int], ...]
    extra_cycles: int
    given: tuple[PlannedDose, ...] = field(default_factory=tuple)
    recorded: tuple[RecordedDose, ...] = ()  # administrations in mg/m2 actually given
    allowance: Mapping[int, CycleAllowance] = field(default_factory=dict)
    delayed_plan: TreatmentPlan | None = None  # the calendar with the late day 1 given on ``on``
    # the awaited dose planned (moved by the prescriber) later than it was due: the
    # interruption it makes if given on its planned date (end = that date)
    planned_gap: Interruption | None = None

    @property
    def first_dose_on(self) -> date | None:
        return self.given[0].given_on if self.given else None

    @property
    def last_dose_on(self) -> date | None:
        return max((d.given_on for d in self.given if d.given_on), default=None)

    @property
    def current(self) -> tuple[int, int] | None:
        return self.given[-1].key if self.given else None

    def cycle_start(self, cycle: int) -> date | None:
        for c in self.plan.cycles:
            if c.cycle == cycle:
                return c.start
        return None

    @property
    def omitted(self) -> tuple[tuple[int, int], ...]:
        return tuple(d.key for d in self.plan.doses if d.status == "omitted")


def _due_date(plan: TreatmentPlan, dose: PlannedDose, gap: int, previous: date | None) -> date:
    """When the dose was due. A day 1 given late moves its cycle in the calendar, so its due
    date is the end of the previous cycle (at least ``gap`` days after the previous dose)."""
    if dose.day != 1 or dose.cycle == 1:
        return dose.scheduled
    before = next((c for c in plan.cycles if c.cycle == dose.cycle - 1), None)
    if before is None:
        return dose.scheduled
    due = before.start + timedelta(days=before.length_days)
    if previous is not None:
        due = max(due, previous + timedelta(days=gap))
    return min(due, dose.scheduled)


def _walk(
    plan: TreatmentPlan, on: date, gap: int
) -> tuple[list[Interruption], Interruption | None]:
    """The interruptions of the plan up to ``on`` (Table 4), and the one the awaited dose makes
    when it is planned later than it was due (a day 1 moved by the prescriber): from the due
    date (or the first dose omitted before it) to its planned date (``None`` when it is planned
    on time or treatment has not started)."""
    found: list[Interruption] = []
    pending: tuple[date, tuple[int, int]] | None = None
    previous: date | None = None
    for dose in sorted(plan.doses, key=lambda d: d.key):
        if dose.key == (1, 1):
            if dose.status != "given":
                break  # treatment has not started: nothing is interrupted
            continue  # the start of treatment is not an interruption
        due = _due_date(plan, dose, gap, previous)
        if dose.status == "given" and dose.given_on is not None:
            start, first = pending or (due, dose.key)
            length = (dose.given_on - start).days
            if length > 0:
                found.append(Interruption(start, dose.given_on, length, first, dose.key, None))
            pending = None
            previous = dose.given_on
        elif dose.status == "omitted":
            pending = pending or (due, dose.key)
        else:  # planned or held: the dose now awaited
            start, first = pending or (due, dose.key)
            if start < on:
                found.append(Interruption(start, None, (on - start).days, first, None, dose.key))
            planned = None
            if dose.scheduled > start:
                end = max(dose.scheduled, on)
                planned = Interruption(start, end, (end - start).days, first, None, dose.key)
            return found, planned
    return found, None


def _interruptions(plan: TreatmentPlan, on: date, gap: int) -> list[Interruption]:
    return _walk(plan, on, gap)[0]


def _planned_gap(plan: TreatmentPlan, on: date, gap: int) -> Interruption | None:
    return _walk(plan, on, gap)[1]


def _steps(interruptions: list[Interruption], label: Label) -> list[ModificationStep]:
    reduce_days = int(label.threshold("interruption_reduce_days").number)
    codes = (REDUCE, TWO_DOSES, NOT_TOLERATED)
    steps: list[ModificationStep] = []
    for interruption in interruptions:
        if interruption.length_days < reduce_days:
            continue
        if len(steps) == len(codes):
            break
        code = codes[len(steps)]
        from_cycle = max(interruption.target_cycle, steps[-1].from_cycle if steps else 1)
        steps.append(ModificationStep(code, from_cycle, interruption))
    return steps


def _adjustments(
    steps: list[ModificationStep], label: Label, last_cycle: int
) -> dict[int, CycleAdjustment]:
    fraction = label.threshold("reduce_total_fraction").number
    two_days = tuple(int(d) for d in label.threshold("two_doses_per_cycle_days").value)  # type: ignore[union-attr]
    out: dict[int, CycleAdjustment] = {}
    for step in steps:
        if step.code == NOT_TOLERATED:
            continue
        for cycle in range(step.from_cycle, last_cycle + 1):
            previous = out.get(cycle, CycleAdjustment())
            if step.code == REDUCE:
                out[cycle] = CycleAdjustment(Decimal(1) - fraction, previous.days, REDUCE)
            else:
                out[cycle] = CycleAdjustment(
                    previous.factor if previous.factor != 1 else Decimal(1) - fraction,
                    two_days,
                    TWO_DOSES,
                )
    return out


def _next(plan: TreatmentPlan) -> PlannedDose | None:
    return next((d for d in plan.doses if d.status in ("planned", "held")), None)


def build_state(
    course: Course,
    label: Label,
    on: date,
    *,
    policy: SitePolicy,
    body: BodyUsed,
) -> CourseState:
    """Re-plan until the engine's omissions and modifications are stable."""
    cap = label.cycle_cap(course.plan.hsct_intended)
    given_cycles = {a.cycle for a in course.of_type(AdministrationEvent)}
    extra = 0
    if course.plan.hsct_intended and label.caps.hsct_third_cycle_option and cap + 1 in given_cycles:
        extra = 1  # the clinician chose the optional third pre-transplant cycle
    last_cycle = cap + extra
    omit_days = int(label.threshold("interruption_omit_days").number)
    statuses: dict[tuple[int, int], str] = {}
    adjustments: dict[int, CycleAdjustment] = {}
    interruptions: list[Interruption] = []
    steps: list[ModificationStep] = []
    plan: TreatmentPlan | None = None
    for _ in range(64):  # each pass only adds omissions or escalates: it ends quickly
        plan = plan_course(
            course,
            label,
            policy=policy,
            adjustments=adjustments,
            statuses=statuses,
            body=body,
            extra_cycles=extra,
        )
        upcoming = _next(plan)
        if (
            upcoming is not None
            and upcoming.day != 1
            and (on - upcoming.scheduled).days >= omit_days
        ):
            statuses[upcoming.key] = "omitted"
            continue
        interruptions = _interruptions(plan, on, label.regimen.min_days_between_doses)
        steps = _steps(interruptions, label)
        wanted = _adjustments(steps, label, last_cycle)
        if wanted == adjustments:
            break
        adjustments = wanted
    assert plan is not None
    recorded = recorded_doses(course, label, policy)
    allowance = allowances(recorded, label)
    plan = cap_plan(plan, allowance, label, policy)
    upcoming = _next(plan)
    delayed = None
    delayed_plan = None
    if upcoming is not None and upcoming.day == 1 and on > upcoming.scheduled:
        # a late day 1 starts its cycle when it is given (today at the earliest): the rest of
        # the calendar moves with it, and a later cycle's regimen follows the responses known
        replanned = plan_course(
            course,
            label,
            policy=policy,
            adjustments=adjustments,
            statuses=statuses,
            body=body,
            extra_cycles=extra,
            starts={upcoming.cycle: on},
        )
        delayed_plan = cap_plan(replanned, allowance, label, policy)
        if upcoming.cycle > 1:
            delayed = delayed_plan.dose(upcoming.cycle, 1)
    given = tuple(
        sorted(
            (d for d in plan.doses if d.status == "given"), key=lambda d: d.given_on or d.scheduled
        )
    )
    return CourseState(
        on=on,
        plan=plan,
        next_dose=upcoming,
        next_dose_delayed_plan=delayed,
        interruptions=tuple(interruptions),
        steps=tuple(steps),
        adjustments=adjustments,
        engine_omitted=tuple(sorted(statuses)),
        extra_cycles=extra,
        given=given,
        recorded=recorded,
        allowance=allowance,
        delayed_plan=delayed_plan,
        planned_gap=_planned_gap(plan, on, label.regimen.min_days_between_doses),
    )


# -- other parts of the state ----------------------------------------------------------------


def current_medications(
    course: Course, identify: Callable[[str], str] = normalise_name
) -> list[str]:
    """Medicines started and not stopped, as recorded (first spelling kept); a stop ends the
    start of the same medicine (``identify``: ``qt.medicine_identity``, brand = generic)."""
    return list(medication_ledger(course.of_type(MedicationEvent), identify).taken)


def responses(course: Course) -> list[ResponseEvent]:
    return list(course.of_type(ResponseEvent))


def planned_transplants(course: Course) -> list[HsctEvent]:
    return [e for e in course.of_type(HsctEvent) if e.planned]


def summary(
    course: Course,
    st: CourseState,
    toxicities: Sequence[CodedToxicity] = (),
    identify: Callable[[str], str] = normalise_name,
) -> dict[str, object]:
    """The reconstructed course state, for display: what the rules worked from."""
    from inoplan.domain.course import LabsEvent

    def counts_before(day: date) -> dict[str, object]:
        out: dict[str, object] = {}
        for analyte in ("anc", "platelets"):
            for event in course.of_type(LabsEvent):  # in date order
                if event.date > day:
                    break
                value = event.values.get(analyte)
                if value is not None and not value.transfused:
                    out[analyte] = value.value
                    out[f"{analyte}_date"] = event.date
        return out

    doses = {
        status: [d.key for d in st.plan.doses if d.status == status]
        for status in ("given", "omitted")
    }
    latest = latest_by_code(toxicities)
    return {
        "doses_given": [{"cycle": c, "day": d} for c, d in doses["given"]],
        "doses_omitted": [{"cycle": c, "day": d} for c, d in doses["omitted"]],
        "cycles": [
            {
                "cycle": c.cycle,
                "start": c.start,
                "started": c.started,
                "regimen": c.schedule_id,
                "baseline": counts_before(c.start) if c.started else None,
            }
            for c in st.plan.cycles
        ],
        "responses": [
            {"date": r.date, "status": r.status, "mrd_negative": r.mrd_negative}
            for r in responses(course)
        ],
        "toxicities": {
            (e.code if e.recognised else e.event.term): {
                "grade": e.grade,
                "date": e.date,
                "name": e.name,
                "coded": e.recognised,
            }
            for e in latest.values()
        },
        "interruptions": [
            {"start": i.start, "end": i.end, "days": i.length_days, "ongoing": i.ongoing}
            for i in st.interruptions
        ],
        "medications": current_medications(course, identify),
        "transplants": [
            {"date": h.date, "conditioning": list(h.conditioning)}
            for h in planned_transplants(course)
        ],
        "cycle_cap": st.plan.cycle_cap,
    }
