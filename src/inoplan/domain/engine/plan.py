"""The plan as of a date, laid out of the engine's course state: one schedule. Pure.

Everything that shows a future dose (``inoplan plan``, the calendar file, the handout, the
worksheet, the web timeline, the FHIR CarePlan, the PK "doses as planned") uses this plan, so
that it always agrees with the decision of the same date: the Table 4 reductions and the
two-doses-per-cycle step (never re-escalated), the engine's omissions, a delayed day 1, a held
dose, the cap at what is left of a cycle's maximum, and nothing planned once the course is to be
discontinued (whatever the cause) or is complete. The first dose not given or omitted is the
decision's ``next_dose`` (same date, window, mg/m2 and mg).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date

from inoplan.domain.course import Course
from inoplan.domain.engine.core import DEFAULT_POLICY, evaluate_state
from inoplan.domain.engine.qt import QtDrugList
from inoplan.domain.engine.values import Decision
from inoplan.domain.label import Label
from inoplan.domain.planner import PlannedDose, TreatmentPlan
from inoplan.domain.policy import SitePolicy

__all__ = ["PlanAsOf", "plan_as_of"]


@dataclass(frozen=True, slots=True)
class PlanAsOf:
    """The calendar as of ``as_of`` and the decision of that date it agrees with."""

    as_of: date
    plan: TreatmentPlan
    decision: Decision

    @property
    def next_dose(self) -> PlannedDose | None:
        return next((d for d in self.plan.doses if d.status in ("planned", "held")), None)


def plan_as_of(
    course: Course,
    label: Label,
    on: date,
    *,
    policy: SitePolicy = DEFAULT_POLICY,
    qt_drugs: QtDrugList | None = None,
) -> PlanAsOf:
    """The course's plan as known on ``on`` (events dated later do not exist yet)."""
    evaluation = evaluate_state(course, label, on, policy=policy, qt_drugs=qt_drugs)
    decision, st = evaluation.decision, evaluation.state
    calendar = st.delayed_plan or st.plan  # a late day 1 moves the rest of its cycle
    finished = decision.status in ("discontinue", "complete")
    upcoming = st.next_dose
    doses: list[PlannedDose] = []
    for dose in calendar.doses:
        if dose.status in ("given", "omitted"):
            doses.append(dose)
        elif finished:
            continue  # nothing is planned once treatment stops or is complete
        elif upcoming is not None and dose.key == upcoming.key:
            doses.append(
                dataclasses.replace(
                    dose,
                    scheduled=upcoming.scheduled,
                    earliest=upcoming.earliest,
                    latest=upcoming.latest,
                    status="held" if decision.status == "hold" else "planned",
                )
            )
        else:
            doses.append(dose)
    notes = list(calendar.notes)
    stopped_on = calendar.discontinued_on
    if decision.status == "discontinue":
        deciding = [r for r in decision.reasons if r.verdict == "discontinue"]
        dates = [r.inputs.get("date") for r in deciding]
        stopped_on = stopped_on or min((d for d in dates if isinstance(d, date)), default=on)
        if deciding:
            notes.insert(0, f"No further doses: {deciding[0].message} ({deciding[0].citation}).")
    elif decision.status == "complete":
        notes.insert(0, "Course complete: no further doses.")
    elif decision.status in ("hold", "cannot_decide") and upcoming is not None:
        first = next((r for r in decision.reasons if r.verdict == decision.status), None)
        if first is not None:
            state = "held" if decision.status == "hold" else "not decided"
            notes.insert(
                0,
                f"Cycle {upcoming.cycle} day {upcoming.day} is {state} as of {on.isoformat()}: "
                f"{first.message} ({first.citation}). Later dates are provisional.",
            )
    plan = dataclasses.replace(
        calendar, doses=tuple(doses), discontinued_on=stopped_on, notes=tuple(notes)
    )
    return PlanAsOf(on, plan, decision)
