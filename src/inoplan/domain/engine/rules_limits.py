"""Hard limits on what was recorded and on what is proposed; overrides; stops. Pure.

Recorded doses are counted in mg/m2 actually given (``limits``). A recorded dose above the
per-dose maximum, a cycle above the per-cycle maximum, two doses fewer than 6 days apart and a
dose recorded deliberately against the decision (``override_reason``) each raise a critical
alert on every later decision of the course. A dose still to come that would take its cycle
above the maximum is capped at what remains and held (``limits.cycle-allowance``): the label
gives no reduced dose for this case, so inoplan never proposes to give it; a clinician decides.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from inoplan.domain.course import AdministrationEvent, changed_dose_facts
from inoplan.domain.engine.context import Context
from inoplan.domain.engine.limits import short_intervals
from inoplan.domain.engine.state import CourseState
from inoplan.domain.planner import PlannedDose

__all__ = ["check_recorded_limits", "check_stop", "limit_of_dose"]

_Q = Decimal("0.001")


def _cites(ctx: Context) -> tuple[Any, str]:
    return (ctx.label.limits.citation, "recorded_dose_tolerance_steps")


def check_recorded_limits(ctx: Context, st: CourseState) -> None:
    """Critical alerts for what was recorded (always, whatever the status)."""
    limits = ctx.label.limits
    interpretation = ctx.interpretation("recorded_dose_tolerance_steps")
    for dose in st.recorded:
        if dose.above(limits.max_mg_per_m2_per_dose):
            inputs = {
                **dose.inputs(),
                "max_mg_per_m2_per_dose": limits.max_mg_per_m2_per_dose,
                "max_dose_mg": (limits.max_mg_per_m2_per_dose * dose.bsa_m2).quantize(
                    ctx.policy.rounding.dose_step_mg
                )
                if dose.bsa_m2 is not None
                else None,
                "tolerance_mg_per_m2": dose.tolerance_mg_per_m2.quantize(Decimal("0.0001")),
            }
            given = inputs["mg_per_m2_given"]
            ctx.reason(
                "limits.recorded-dose-above-max",
                _cites(ctx),
                f"Cycle {dose.event.cycle} day {dose.event.day} ({dose.event.date.isoformat()}): "
                f"{dose.event.dose_mg} mg recorded = {given} mg/m2 at {dose.bsa_m2} m2, above the "
                f"maximum of {limits.max_mg_per_m2_per_dose} mg/m2 per dose.",
                inputs,
                interpretation=interpretation,
            )
            ctx.alert(
                "DOSE_ABOVE_MAX",
                f"Cycle {dose.event.cycle} day {dose.event.day}: {dose.event.dose_mg} mg = "
                f"{given} mg/m2.",
                inputs,
            )
        elif dose.mg_per_m2 is None:
            inputs = dose.inputs()
            ctx.reason(
                "limits.recorded-dose-unchecked",
                _cites(ctx),
                f"Cycle {dose.event.cycle} day {dose.event.day} ({dose.event.date.isoformat()}): "
                f"{dose.event.dose_mg} mg recorded but no height and weight on or before that day: "
                "the dose cannot be checked against the hard limits.",
                inputs,
            )
            ctx.alert("MISSING_DATA", "Height and weight for a recorded dose.", inputs)
    for cycle, allowance in sorted(st.allowance.items()):
        if not allowance.above:
            continue
        doses = [d for d in st.recorded if d.event.cycle == cycle]
        inputs = {
            "cycle": cycle,
            "total_mg_per_m2_given": allowance.given_mg_per_m2.quantize(_Q),
            "max_mg_per_m2_per_cycle": allowance.maximum,
            "tolerance_mg_per_m2": allowance.tolerance_mg_per_m2.quantize(Decimal("0.0001")),
            "doses": [d.inputs() for d in doses],
        }
        ctx.reason(
            "limits.recorded-cycle-above-max",
            _cites(ctx),
            f"Cycle {cycle}: the doses recorded add up to "
            f"{allowance.given_mg_per_m2.quantize(_Q)} mg/m2, above the maximum of "
            f"{allowance.maximum} mg/m2 per cycle.",
            inputs,
            interpretation=interpretation,
        )
        ctx.alert(
            "CYCLE_TOTAL_ABOVE_MAX",
            f"Cycle {cycle}: {allowance.given_mg_per_m2.quantize(_Q)} mg/m2.",
            inputs,
        )
    gap = ctx.label.regimen.min_days_between_doses
    for first, second in short_intervals(st.recorded, gap):
        days = (second.event.date - first.event.date).days
        inputs = {
            "first": first.inputs(),
            "second": second.inputs(),
            "days_apart": days,
            "min_days_between_doses": gap,
        }
        ctx.reason(
            "limits.recorded-interval-short",
            "dosing-regimen",
            f"Cycle {first.event.cycle} day {first.event.day} ({first.event.date.isoformat()}) "
            f"and cycle {second.event.cycle} day {second.event.day} "
            f"({second.event.date.isoformat()}) are recorded {days} days apart, fewer than the "
            f"{gap} days the label keeps between doses.",
            inputs,
        )
        ctx.alert(
            "DOSE_INTERVAL_SHORT",
            f"C{first.event.cycle}D{first.event.day} and C{second.event.cycle}D"
            f"{second.event.day}: {days} days apart.",
            inputs,
        )
    for dose in st.recorded:
        if dose.event.override_reason:
            inputs = dose.inputs()
            ctx.reason(
                "limits.dose-override",
                "inoplan-policy",
                f"Cycle {dose.event.cycle} day {dose.event.day} ({dose.event.date.isoformat()}, "
                f"{dose.event.dose_mg} mg) was recorded deliberately against the decision: "
                f"{dose.event.override_reason}",
                inputs,
            )
            ctx.alert(
                "DOSE_OVERRIDE",
                f"Cycle {dose.event.cycle} day {dose.event.day} ({dose.event.date.isoformat()}): "
                f"{dose.event.override_reason}",
                inputs,
            )
    _check_taken_back(ctx)


def _dose_words(event: AdministrationEvent) -> str:
    return f"Cycle {event.cycle} day {event.day} ({event.date.isoformat()}, {event.dose_mg} mg)"


def _dose_inputs(event: AdministrationEvent) -> dict[str, Any]:
    return {
        "cycle": event.cycle,
        "day": event.day,
        "date": event.date.isoformat(),
        "dose_mg": event.dose_mg,
    }


def _changes(before: AdministrationEvent, after: AdministrationEvent) -> dict[str, Any]:
    """The facts that differ, each as [before, after] (``DOSE_FACTS`` names)."""
    return {
        name: [getattr(before, name, None), getattr(after, name, None)]
        for name in changed_dose_facts(before, after)
    }


def _check_taken_back(ctx: Context) -> None:
    """Critical alerts for a recorded dose withdrawn (void) or corrected in its date, day, dose
    or infusion care (``DOSE_FACTS``): the engine then plans that day as if the dose had not
    been given (review H2/H3), so the record says so on every later decision. A withdrawn
    correction puts the entry it corrected back in force: that is a correction back (its facts
    changed again), not a dose withdrawn."""
    course = ctx.course
    replaced = {e.id: e for e in course.superseded if isinstance(e, AdministrationEvent)}
    doses = {
        e.id: e for e in (*course.events, *course.superseded) if isinstance(e, AdministrationEvent)
    }
    for void in course.voids:
        gone = replaced.get(void.supersedes)
        if gone is None:
            continue
        restored = doses.get(gone.supersedes) if gone.supersedes else None
        if restored is not None:
            changes = _changes(gone, restored)
            if changes:
                ctx.alert(
                    "DOSE_CORRECTED",
                    f"The correction of {_dose_words(restored).lower()} was withdrawn on "
                    f"{void.date.isoformat()} ({void.reason}): the entry it corrected is in force "
                    f"again ({', '.join(changes)} changed back from {_dose_words(gone).lower()})",
                    {
                        "corrected": gone.id,
                        "restored": restored.id,
                        "by": void.id,
                        "on": void.date.isoformat(),
                        "reason": void.reason,
                        "changed": changes,
                        **_dose_inputs(restored),
                    },
                )
            continue
        inputs = {
            "withdrawn": gone.id,
            "by": void.id,
            "on": void.date.isoformat(),
            "reason": void.reason,
            **_dose_inputs(gone),
        }
        ctx.alert(
            "DOSE_WITHDRAWN",
            f"{_dose_words(gone)} was withdrawn on {void.date.isoformat()}: {void.reason}",
            inputs,
        )
    for fix in (*course.events, *course.superseded):
        if not isinstance(fix, AdministrationEvent) or not fix.supersedes:
            continue
        gone = replaced.get(fix.supersedes)
        changes = {} if gone is None else _changes(gone, fix)
        if gone is None or not changes:
            continue
        facts: dict[str, Any] = {
            "corrected": gone.id,
            "by": fix.id,
            "changed": changes,
            **_dose_inputs(fix),
        }
        ctx.alert(
            "DOSE_CORRECTED",
            f"{_dose_words(gone)} was corrected to {_dose_words(fix).lower()} "
            f"({', '.join(changes)} changed): {fix.reason}",
            facts,
        )


def limit_of_dose(ctx: Context, st: CourseState, dose: PlannedDose, *, due: bool) -> None:
    """The dose to give next would exceed a hard limit given what was recorded: hold it."""
    allowance = st.allowance.get(dose.cycle)
    if allowance is not None and allowance.unknown:
        inputs = {
            "cycle": dose.cycle,
            "unchecked_doses": [{"cycle": c, "day": d} for c, d in allowance.unknown],
        }
        ctx.reason(
            "limits.cycle-total-unknown",
            _cites(ctx),
            f"Cycle {dose.cycle}: a dose was recorded without a height and weight for its day, so "
            "what is left of the cycle maximum is not known; record the vitals of that day.",
            inputs,
            verdict="cannot_decide" if due else None,
        )
    if dose.limited_from is None or allowance is None:
        return
    inputs = {
        "cycle": dose.cycle,
        "day": dose.day,
        "scheduled_mg_per_m2": dose.limited_from,
        "recorded_in_cycle_mg_per_m2": allowance.given_mg_per_m2.quantize(_Q),
        "max_mg_per_m2_per_cycle": allowance.maximum,
        "remaining_mg_per_m2": dose.dose_mg_per_m2,
        "remaining_mg": dose.dose_mg,
    }
    ctx.reason(
        "limits.cycle-allowance",
        _cites(ctx),
        f"Cycle {dose.cycle} day {dose.day} as scheduled ({dose.limited_from} mg/m2) would take "
        f"the cycle above its maximum of {allowance.maximum} mg/m2: "
        f"{allowance.given_mg_per_m2.quantize(_Q)} mg/m2 already recorded, at most "
        f"{dose.dose_mg_per_m2.normalize()} mg/m2 remain. The label gives no reduced dose for "
        "this: not proposed; a clinician decides (omit the dose, or record a deliberate "
        "override).",
        inputs,
        interpretation=ctx.interpretation("recorded_dose_tolerance_steps"),
        verdict="hold" if due else None,
    )
    ctx.alert(
        "DOSE_LIMIT_HOLD",
        f"Cycle {dose.cycle} day {dose.day}: at most {dose.dose_mg_per_m2.normalize()} mg/m2 "
        "remain.",
        inputs,
    )


def check_stop(ctx: Context, status: str) -> None:
    """Once treatment must stop: a critical alert, and any dose recorded after the stop."""
    if status != "discontinue":
        return
    deciding = [v.reason for v in ctx.verdicts if v.status == "discontinue"]
    first = deciding[0]
    ctx.alert("DISCONTINUED", f"{first.message} ({first.citation})", {"rule": first.rule})
    dates = [r.inputs.get("date") for r in deciding]
    stop = min((d for d in dates if isinstance(d, date)), default=None)
    if stop is None:
        return
    for event in ctx.course.of_type(AdministrationEvent):
        if event.date > stop:
            inputs = {
                "cycle": event.cycle,
                "day": event.day,
                "given_on": event.date,
                "dose_mg": event.dose_mg,
                "stopped_on": stop,
                "override_reason": event.override_reason,
            }
            ctx.alert(
                "DOSE_AFTER_STOP",
                f"Cycle {event.cycle} day {event.day} recorded on {event.date.isoformat()}, after "
                f"the stop of {stop.isoformat()}.",
                inputs,
            )
