"""Hard limits on what was recorded, and what is left of a cycle's maximum. Pure.

A recorded dose is counted in mg/m2 actually given: the mg recorded divided by the BSA in force
on its day (latest height and weight on or before it). Because doses are prepared rounded to the
site's step, a recorded dose is above the per-dose maximum only when it exceeds the maximum by
more than ``recorded_dose_tolerance_steps`` rounding steps in mg (interpretation in the label
file); a cycle total likewise, with that tolerance once per dose. What remains of a cycle's
maximum caps the doses still to come in that cycle (``cap_plan``): no dose is ever proposed
above it, and the engine holds a dose that was capped.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, Decimal

from inoplan.domain.course import AdministrationEvent, Course
from inoplan.domain.label import Label
from inoplan.domain.planner import BodyUsed, PlannedDose, TreatmentPlan, body_used
from inoplan.domain.policy import SitePolicy

__all__ = [
    "CycleAllowance",
    "RecordedDose",
    "allowances",
    "cap_plan",
    "recorded_doses",
    "short_intervals",
]


@dataclass(frozen=True, slots=True)
class RecordedDose:
    """One administration, in mg/m2 actually given (None without a BSA for its day)."""

    event: AdministrationEvent
    bsa_m2: Decimal | None
    mg_per_m2: Decimal | None
    tolerance_mg_per_m2: Decimal  # half a rounding step (mg) / BSA, 0 without a BSA

    @property
    def key(self) -> tuple[int, int]:
        return (self.event.cycle, self.event.day)

    def above(self, limit: Decimal) -> bool:
        return self.mg_per_m2 is not None and self.mg_per_m2 > limit + self.tolerance_mg_per_m2

    def inputs(self) -> dict[str, object]:
        out: dict[str, object] = {
            "cycle": self.event.cycle,
            "day": self.event.day,
            "given_on": self.event.date,
            "dose_mg": self.event.dose_mg,
            "bsa_m2": self.bsa_m2,
            "mg_per_m2_given": None
            if self.mg_per_m2 is None
            else self.mg_per_m2.quantize(Decimal("0.001")),
        }
        if self.event.id:
            out["event_id"] = self.event.id
        if self.event.override_reason:
            out["override_reason"] = self.event.override_reason
        return out


@dataclass(frozen=True, slots=True)
class CycleAllowance:
    """What was recorded in one cycle against its maximum."""

    cycle: int
    maximum: Decimal
    given_mg_per_m2: Decimal  # sum of the recorded doses with a known BSA
    tolerance_mg_per_m2: Decimal
    unknown: tuple[tuple[int, int], ...] = ()  # doses recorded without a BSA for their day

    @property
    def remaining(self) -> Decimal:
        """mg/m2 that may still be given in the cycle (negative: already above)."""
        return self.maximum + self.tolerance_mg_per_m2 - self.given_mg_per_m2

    @property
    def above(self) -> bool:
        return self.remaining < 0


def _tolerance_mg(label: Label, policy: SitePolicy) -> Decimal:
    steps = label.threshold("recorded_dose_tolerance_steps").number
    return steps * policy.rounding.dose_step_mg


def recorded_doses(course: Course, label: Label, policy: SitePolicy) -> tuple[RecordedDose, ...]:
    """Every administration of the course with the mg/m2 it gave, in date order."""
    tolerance_mg = _tolerance_mg(label, policy)
    bodies: dict[date, BodyUsed] = {}
    out: list[RecordedDose] = []
    for event in course.of_type(AdministrationEvent):
        if event.date not in bodies:
            bodies[event.date] = body_used(course, course.plan.bsa_formula, policy, on=event.date)
        bsa = bodies[event.date].bsa_m2
        if bsa is None or bsa <= 0:
            out.append(RecordedDose(event, None, None, Decimal(0)))
            continue
        out.append(RecordedDose(event, bsa, event.dose_mg / bsa, tolerance_mg / bsa))
    return tuple(out)


def allowances(recorded: Sequence[RecordedDose], label: Label) -> dict[int, CycleAllowance]:
    maximum = label.limits.max_mg_per_m2_per_cycle
    given: dict[int, Decimal] = {}
    tolerance: dict[int, Decimal] = {}
    unknown: dict[int, list[tuple[int, int]]] = {}
    for dose in recorded:
        cycle = dose.event.cycle
        given.setdefault(cycle, Decimal(0))
        tolerance.setdefault(cycle, Decimal(0))
        if dose.mg_per_m2 is None:
            unknown.setdefault(cycle, []).append(dose.key)
            continue
        given[cycle] += dose.mg_per_m2
        tolerance[cycle] += dose.tolerance_mg_per_m2
    return {
        cycle: CycleAllowance(
            cycle, maximum, given[cycle], tolerance[cycle], tuple(unknown.get(cycle, ()))
        )
        for cycle in given
    }


def short_intervals(
    recorded: Sequence[RecordedDose], min_days: int
) -> list[tuple[RecordedDose, RecordedDose]]:
    """Consecutive recorded doses fewer than ``min_days`` apart."""
    ordered = sorted(recorded, key=lambda d: (d.event.date, d.key))
    return [
        (a, b)
        for a, b in itertools.pairwise(ordered)
        if (b.event.date - a.event.date).days < min_days
    ]


def cap_plan(
    plan: TreatmentPlan,
    allowance: Mapping[int, CycleAllowance],
    label: Label,
    policy: SitePolicy,
) -> TreatmentPlan:
    """Cap every dose not given yet at what is left of its cycle's maximum.

    The doses of a cycle are taken in order; each may use what the recorded doses and the doses
    before it leave (with the rounding allowance of the recorded doses, so that doses given as
    planned never cap the next one). A dose that does not fit keeps its place with the mg/m2
    strictly left of the maximum (0 when none is), its mg rounded down so that it never exceeds
    it, and ``limited_from`` set to the mg/m2 it was scheduled at.
    """
    if not allowance:
        return plan
    used: dict[int, Decimal] = {}
    doses: list[PlannedDose] = []
    changed = False
    for dose in plan.doses:
        state = allowance.get(dose.cycle)
        if dose.status not in ("planned", "held") or state is None:
            doses.append(dose)
            continue
        before = used.get(dose.cycle, Decimal(0))
        if dose.dose_mg_per_m2 <= state.remaining - before:  # within the rounding allowance
            used[dose.cycle] = before + dose.dose_mg_per_m2
            doses.append(dose)
            continue
        # capped: at most what is strictly left of the maximum (no rounding allowance)
        allowed = max(Decimal(0), state.maximum - state.given_mg_per_m2 - before)
        quantum = Decimal("0.001")
        allowed = allowed.quantize(quantum, rounding=ROUND_DOWN)
        used[dose.cycle] = used.get(dose.cycle, Decimal(0)) + allowed
        mg = None
        if plan.body.bsa_m2 is not None:
            mg = (allowed * plan.body.bsa_m2).quantize(
                policy.rounding.dose_step_mg, rounding=ROUND_DOWN
            )
        doses.append(
            dataclasses.replace(
                dose,
                dose_mg_per_m2=allowed,
                dose_mg=mg,
                calculated_dose_mg=mg,
                limited_from=dose.dose_mg_per_m2,
            )
        )
        changed = True
    return dataclasses.replace(plan, doses=tuple(doses)) if changed else plan
