"""``evaluate``: the decision for one course on one date (docs/decision.md). Pure.

Order of work: rebuild the course state as known on the date; apply the rules that end
treatment; find the next dose and whether it is due; check it; add the safety alerts; pick the
status by the precedence of docs/decision.md
(discontinue > complete > hold > cannot_decide > give > wait).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from inoplan import __version__
from inoplan.domain.course import Course
from inoplan.domain.engine.consistency import check_contradictions
from inoplan.domain.engine.context import Context, upto
from inoplan.domain.engine.qt import QtDrugList, medicine_identity
from inoplan.domain.engine.rules_dose import (
    check_due_dose,
    coding_reasons,
    interruption_reasons,
    is_due,
    regimen_reason,
    schedule_reasons,
)
from inoplan.domain.engine.rules_final import check_complete, check_final
from inoplan.domain.engine.rules_limits import check_recorded_limits, check_stop, limit_of_dose
from inoplan.domain.engine.safety import check_safety, key_dates
from inoplan.domain.engine.state import REDUCE, TWO_DOSES, CourseState, build_state, summary
from inoplan.domain.engine.values import (
    STATUSES,
    Alert,
    Decision,
    Modification,
    NextDose,
    Reason,
)
from inoplan.domain.label import Label
from inoplan.domain.planner import BodyUsed, body_used, check_date
from inoplan.domain.policy import SitePolicy

__all__ = ["DEFAULT_POLICY", "Evaluation", "evaluate", "evaluate_state"]

DEFAULT_POLICY = SitePolicy()


def evaluate(
    course: Course,
    label: Label,
    on: date,
    *,
    policy: SitePolicy = DEFAULT_POLICY,
    qt_drugs: QtDrugList | None = None,
) -> Decision:
    """Decide for ``on``: give, hold, wait, cannot decide, complete or discontinue.

    Parameters
    ----------
    course
        The validated course; events dated after ``on`` are not known yet and are ignored.
    label
        The label revision the course names.
    on
        The decision date ("today"); the engine never reads the clock.
    policy
        Site choices (rounding, freshness limits, extra QT medicines).
    qt_drugs
        The QT-prolonging medicine list (``inoplan.knowledge.qt.load_qt_drugs()``).
    """
    return evaluate_state(course, label, on, policy=policy, qt_drugs=qt_drugs).decision


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The decision with the course state it was made from (the plan is built from both)."""

    decision: Decision
    state: CourseState
    body: BodyUsed
    view: Course  # the course as known on the date


def evaluate_state(
    course: Course,
    label: Label,
    on: date,
    *,
    policy: SitePolicy = DEFAULT_POLICY,
    qt_drugs: QtDrugList | None = None,
) -> Evaluation:
    """``evaluate``, keeping the course state (``domain.engine.plan`` lays the plan out of it)."""
    check_date(on)
    view = upto(course, on)
    ctx = Context(view, label, on, policy)
    body = body_used(view, view.plan.bsa_formula, policy, on=on)
    st = build_state(view, label, on, policy=policy, body=body)

    upcoming = st.next_dose
    dosing = st.next_dose_delayed_plan or upcoming
    due = upcoming is not None and is_due(ctx, upcoming)
    check_final(ctx, st, due=due)
    check_complete(ctx, st)
    finished = any(v.status in ("discontinue", "complete") for v in ctx.verdicts)
    if upcoming is not None and not finished:
        schedule_reasons(ctx, st, upcoming, due)
        if dosing is not None:
            regimen_reason(ctx, dosing, body, st)
            limit_of_dose(ctx, st, dosing, due=due)
        if due and dosing is not None:
            check_due_dose(ctx, st, dosing, body)
    interruption_reasons(ctx, st)
    coding_reasons(ctx, ongoing=not finished)
    check_contradictions(ctx, ongoing=not finished)
    check_recorded_limits(ctx, st)
    check_safety(
        ctx, st, upcoming, body, due=due and not finished, ongoing=not finished, qt_drugs=qt_drugs
    )

    wanted = {v.status for v in ctx.verdicts}
    if (
        due
        and upcoming is not None
        and not wanted & {"discontinue", "complete", "hold", "cannot_decide"}
    ):
        ctx.reason(
            "schedule.give",
            "dosing-regimen",
            f"Give cycle {upcoming.cycle} day {upcoming.day} today: every check passed.",
            {"as_of": on},
            verdict="give",
        )
        wanted.add("give")
    status = next((s for s in STATUSES if s in wanted), "wait")
    check_stop(ctx, status)
    decision = Decision(
        label=label.region,
        label_revision=label.id,
        engine_version=__version__,
        as_of=on,
        status=status,
        next_dose=None
        if status in ("discontinue", "complete")
        else _next_dose(ctx, st, body, due, status),
        modifications=_modifications(ctx, st),
        omitted_doses=st.omitted,
        key_dates=key_dates(ctx, st, finished=status in ("discontinue", "complete")),
        reasons=tuple(_ordered(ctx, status)),
        alerts=tuple(_sorted_alerts(ctx)),
        patient_id=view.patient.id,
        current_cycle=st.current[0] if st.current else None,
        current_day=st.current[1] if st.current else None,
        notes=tuple(ctx.notes),
        state=summary(view, st, ctx.toxicities, medicine_identity(qt_drugs)),
    )
    return Evaluation(decision, st, body, view)


def _next_dose(
    ctx: Context, st: CourseState, body: BodyUsed, due: bool, status: str
) -> NextDose | None:
    dose = st.next_dose
    if dose is None:
        return None
    dosing = st.next_dose_delayed_plan or dose
    return NextDose(
        cycle=dose.cycle,
        day=dose.day,
        scheduled=dose.scheduled,
        earliest=dose.earliest,
        latest=dose.latest,
        dose_mg_per_m2=dosing.dose_mg_per_m2,
        dose_mg=dosing.calculated_dose_mg,
        bsa_m2=body.bsa_m2,
        regimen=dosing.schedule_id,
        provisional=dosing.provisional,
        status="held" if status == "hold" else "planned",
        due=due,
        late_days=max(0, (st.on - dose.scheduled).days) if due else 0,
        limited_from=dosing.limited_from,
    )


def _modifications(ctx: Context, st: CourseState) -> tuple[Modification, ...]:
    out = []
    for step in st.steps:
        if step.code not in (REDUCE, TWO_DOSES):
            continue
        adjustment = st.adjustments.get(step.from_cycle)
        key = "reduce_total_fraction" if step.code == REDUCE else "two_doses_per_cycle_days"
        out.append(
            Modification(
                code=step.code,
                from_cycle=step.from_cycle,
                factor=adjustment.factor if adjustment else Decimal(1),
                days=adjustment.days if adjustment else None,
                citation=ctx.cite(key).text,
                interpretation=ctx.interpretation(key),
                pending=step.pending,
            )
        )
    return tuple(out)


def _ordered(ctx: Context, status: str) -> list[Reason]:
    """Reasons that decided the status first, then the rest in the order found."""
    deciding = [r for r in ctx.reasons if r.verdict == status]
    return deciding + [r for r in ctx.reasons if r.verdict != status]


_SEVERITY = {"critical": 0, "warning": 1, "info": 2}


def _sorted_alerts(ctx: Context) -> list[Alert]:
    return sorted(ctx.alerts, key=lambda a: _SEVERITY.get(a.severity, len(_SEVERITY)))
