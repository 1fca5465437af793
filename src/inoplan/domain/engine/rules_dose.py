"""Rules for the dose that is next: is it due, at what dose, and may it be given today? Pure."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from inoplan.domain.course import PregnancyTestEvent, ResponseEvent, age_years
from inoplan.domain.engine import ctcae
from inoplan.domain.engine.context import Context, LabReading
from inoplan.domain.engine.rules_final import (
    allergy_screen,
    hemolysis_on,
    hepatic_condition,
    severe_liver,
)
from inoplan.domain.engine.state import REDUCE, TWO_DOSES, CourseState
from inoplan.domain.engine.terms import CodedToxicity, latest_by_code, pretreatment_grades
from inoplan.domain.planner import BodyUsed, PlannedDose

__all__ = [
    "check_due_dose",
    "coding_reasons",
    "interruption_reasons",
    "is_due",
    "schedule_reasons",
]


def is_due(ctx: Context, dose: PlannedDose) -> bool:
    """Day 1: from its date on (it may be delayed). Days 8/15: inside the window, or late by
    less than the Table 4 limit (given late, keeping the 6-day minimum)."""
    if ctx.on < dose.earliest:
        return False
    if dose.day == 1 or dose.latest is None:
        return True
    late_limit = int(ctx.number("interruption_delay_below_days"))
    return ctx.on <= dose.latest or (ctx.on - dose.scheduled).days < late_limit


def schedule_reasons(ctx: Context, st: CourseState, dose: PlannedDose, due: bool) -> None:
    regimen = ctx.label.regimen
    inputs: dict[str, Any] = {
        "cycle": dose.cycle,
        "day": dose.day,
        "scheduled": dose.scheduled,
        "earliest": dose.earliest,
        "latest": dose.latest,
    }
    previous = st.given[-1] if st.given else None
    if previous is not None:
        inputs["previous_dose"] = {
            "cycle": previous.cycle,
            "day": previous.day,
            "given_on": previous.given_on,
        }
        inputs["min_days_between_doses"] = regimen.min_days_between_doses
    if not due:
        ctx.reason(
            "schedule.not-due",
            "dosing-regimen",
            f"No dose due on {ctx.on.isoformat()}: next is cycle {dose.cycle} day {dose.day}, "
            f"earliest {dose.earliest.isoformat()}"
            + (f", latest {dose.latest.isoformat()}" if dose.latest else "")
            + ".",
            inputs,
            verdict="wait",
        )
        return
    if dose.day == 1:
        ctx.reason(
            "schedule.day-1",
            "dosing-regimen",
            f"Cycle {dose.cycle} day 1 due from {dose.scheduled.isoformat()}"
            + (f" ({(ctx.on - dose.scheduled).days} days later)" if ctx.on > dose.scheduled else "")
            + ".",
            inputs,
        )
    else:
        ctx.reason(
            "schedule.window",
            "dosing-regimen",
            f"Cycle {dose.cycle} day {dose.day}: window {dose.earliest.isoformat()} to "
            f"{dose.latest.isoformat() if dose.latest else '-'} (scheduled +/- "
            f"{regimen.day_window_days} days, at least {regimen.min_days_between_doses} days after "
            "the previous dose).",
            inputs,
        )
        if dose.latest is not None and ctx.on > dose.latest:
            late = (ctx.on - dose.scheduled).days
            if not toxicity_interruption(ctx, st):
                ctx.reason(
                    "schedule.outside-window",
                    ("dosing-regimen", "interruption_length"),
                    f"Cycle {dose.cycle} day {dose.day} is {late} days after its scheduled date, "
                    "past "
                    f"its window (latest {dose.latest.isoformat()}), and no toxicity interruption "
                    "is "
                    "recorded: Table 4 allows a late dose only after a toxicity hold. A clinician "
                    "decides "
                    "whether to give it late or omit it; record the reason (toxicity event) to "
                    "proceed.",
                    {**inputs, "days_late": late},
                    interpretation=ctx.interpretation("interruption_length"),
                    verdict="cannot_decide",
                )
                return
            ctx.reason(
                "interruption.delay-under-7",
                ("interruption_delay_below_days", "interruption_length"),
                f"Dose interrupted {late} days (< {ctx.number('interruption_delay_below_days')}): "
                f"give it late, keeping at least {regimen.min_days_between_doses} days before the "
                "next dose.",
                {**inputs, "days_late": late},
                interpretation=ctx.interpretation("interruption_length"),
            )


def toxicity_interruption(ctx: Context, st: CourseState) -> bool:
    """Was dosing interrupted for a toxicity since the last dose given (Table 4 applies)?"""
    since = st.last_dose_on or ctx.course.plan.start_date
    limit = int(ctx.number("nonhematologic_interrupt_grade"))
    for entry in latest_toxicities_between(ctx, since):
        if entry.category != "hematologic" and entry.grade >= limit:
            return True
    for labs in ctx.lab_events():
        if not since < labs.date <= ctx.on or "bilirubin" not in labs.values:
            continue
        bili = LabReading(labs.values["bilirubin"], labs.date)
        ast = LabReading(labs.values["ast"], labs.date) if "ast" in labs.values else None
        alt = LabReading(labs.values["alt"], labs.date) if "alt" in labs.values else None
        if hepatic_condition(ctx, bili, ast, alt):
            return True
        ratios = [bili.value.x_uln] + [r.value.x_uln for r in (ast, alt) if r is not None]
        bounds = (
            ctx.label.threshold("ctcae_bilirubin_x_uln").value,
            ctx.label.threshold("ctcae_aminotransferase_x_uln").value,
            ctx.label.threshold("ctcae_aminotransferase_x_uln").value,
        )
        for ratio, bound in zip(ratios, bounds, strict=False):
            if ratio is not None and isinstance(bound, tuple) and ratio > bound[limit - 1]:
                return True
    return False


def latest_toxicities_between(ctx: Context, since: date) -> list[CodedToxicity]:
    return [e for e in ctx.toxicities if since <= e.date <= ctx.on]


def regimen_reason(ctx: Context, dose: PlannedDose, body: BodyUsed, st: CourseState) -> None:
    schedule = ctx.label.regimen.schedules[dose.schedule_id]
    adjustment = st.adjustments.get(dose.cycle)
    base = schedule.mg_per_m2_on(dose.day)
    inputs: dict[str, Any] = {
        "cycle": dose.cycle,
        "day": dose.day,
        "regimen": schedule.id,
        "dose_mg_per_m2": dose.dose_mg_per_m2,
        "bsa_m2": body.bsa_m2,
        "bsa_formula": body.formula.value,
        "height_cm": body.height_cm,
        "weight_kg": body.weight_kg,
        "dose_mg": dose.calculated_dose_mg,
    }
    if dose.cycle > 1:
        inputs["in_remission"] = schedule.id == "later-after-cr"
    message = f"Cycle {dose.cycle} day {dose.day} ({schedule.applies_to}): {base} mg/m2"
    if adjustment is not None and adjustment.factor != 1:
        reduced = (dose.limited_from or dose.dose_mg_per_m2).normalize()
        message += f", x {adjustment.factor} after dose reduction = {reduced} mg/m2"
    if dose.limited_from is not None:
        inputs["scheduled_mg_per_m2"] = dose.limited_from
        message += (
            f" scheduled, capped at {dose.dose_mg_per_m2.normalize()} mg/m2 (what is left of the "
            "cycle maximum)"
        )
    if dose.calculated_dose_mg is not None:
        message += f" x {body.bsa_m2} m2 = {dose.calculated_dose_mg} mg"
    ctx.reason(
        f"regimen.{schedule.id}.day-{dose.day}",
        "dosing-regimen",
        message,
        inputs,
        interpretation=ctx.label.regimen.remission_interpretation if dose.cycle > 1 else None,
    )


def interruption_reasons(ctx: Context, st: CourseState) -> None:
    omitted_by_engine = [k for k in st.engine_omitted if k in st.omitted]
    if omitted_by_engine:
        ctx.reason(
            "interruption.omit-7-or-more",
            ("interruption_omit_days", "interruption_length"),
            "Omitted (interrupted >= "
            f"{ctx.number('interruption_omit_days')} days): "
            + ", ".join(f"cycle {c} day {d}" for c, d in omitted_by_engine)
            + ".",
            {"omitted": [{"cycle": c, "day": d} for c, d in omitted_by_engine]},
            interpretation=ctx.interpretation("interruption_length"),
        )
    for step in st.steps:
        i = step.interruption
        inputs = {
            "interruption_start": i.start,
            "interruption_end": i.end,
            "interruption_days": i.length_days,
            "from_cycle": step.from_cycle,
        }
        if step.code == REDUCE:
            fraction = ctx.number("reduce_total_fraction")
            ctx.reason(
                "interruption.reduce-total-25",
                ("reduce_total_fraction", "interruption_target"),
                f"Dosing interrupted {i.length_days} days (>= "
                f"{ctx.number('interruption_reduce_days')}): "
                f"from cycle {step.from_cycle} each dose is reduced by {fraction * 100:.0f}% "
                f"(x {Decimal(1) - fraction}); never re-escalated.",
                {**inputs, "factor": Decimal(1) - fraction},
                interpretation=f"{ctx.interpretation('reduce_total_fraction')} "
                f"{ctx.interpretation('interruption_target')}",
            )
        elif step.code == TWO_DOSES:
            days = ctx.label.threshold("two_doses_per_cycle_days").value
            ctx.reason(
                "interruption.two-doses-per-cycle",
                ("two_doses_per_cycle_days", "interruption_target"),
                f"A further interruption of {i.length_days} days: from cycle {step.from_cycle}, 2 "
                "doses "
                f"per cycle (days {', '.join(str(d) for d in days)}) at the reduced dose.",  # type: ignore[union-attr]
                {**inputs, "days": days},
                interpretation=f"{ctx.interpretation('two_doses_per_cycle_days')} "
                f"{ctx.interpretation('interruption_target')}",
            )
    ongoing = next((i for i in st.interruptions if i.ongoing), None)
    if ongoing is not None:
        limit = ctx.number("interruption_consider_discontinuation_days")
        if ongoing.length_days > limit:
            inputs = {"interruption_start": ongoing.start, "interruption_days": ongoing.length_days}
            ctx.reason(
                "interruption.over-28-days",
                "interruption_consider_discontinuation_days",
                f"Dosing interrupted for {ongoing.length_days} days (> {limit}): consider "
                "permanent "
                "discontinuation.",
                inputs,
            )
            ctx.alert("CONSIDER_DISCONTINUATION", None, inputs)
            return
    _planned_delay(ctx, st)


def _planned_delay(ctx: Context, st: CourseState) -> None:
    """A dose planned (moved by the prescriber) so late that giving it on that date makes an
    interruption of Table 4's length: say so before the date, not only once it has passed."""
    gap = st.planned_gap
    if gap is None or gap.end is None or gap.end <= st.on:
        return
    reduce_days = ctx.number("interruption_reduce_days")
    limit = ctx.number("interruption_consider_discontinuation_days")
    if gap.length_days < reduce_days:
        return
    cycle, day = gap.next_due or gap.first_missed
    inputs = {
        "cycle": cycle,
        "day": day,
        "due": gap.start,
        "planned": gap.end,
        "interruption_days": gap.length_days,
    }
    what = f"Cycle {cycle} day {day} is planned on {gap.end.isoformat()}, {gap.length_days} days"
    if gap.length_days > limit:
        ctx.reason(
            "interruption.planned-over-28-days",
            "interruption_consider_discontinuation_days",
            f"{what} after it was due ({gap.start.isoformat()}); an interruption of more than "
            f"{limit} days: consider permanent discontinuation, or re-plan the day.",
            {**inputs, "limit_days": limit},
        )
        ctx.alert("DELAY_OVER_LIMIT", None, {**inputs, "limit_days": limit})
        return
    ctx.reason(
        "interruption.planned-14-or-more",
        ("interruption_reduce_days", "interruption_target"),
        f"{what} after it was due ({gap.start.isoformat()}); an interruption of "
        f"{reduce_days} days or more reduces each dose of the following cycle by "
        f"{ctx.number('reduce_total_fraction') * 100:.0f}% when it ends.",
        {**inputs, "reduce_days": reduce_days},
        interpretation=ctx.interpretation("interruption_target"),
    )


# -- may the due dose be given today? ---------------------------------------------------------

_HEPATIC = ("bilirubin", "ast", "alt")


def check_due_dose(ctx: Context, st: CourseState, dose: PlannedDose, body: BodyUsed) -> None:
    first_dose = not st.given
    _body_data(ctx, body)
    fresh = _labs(ctx, dose, first_dose)
    _pregnancy(ctx, first_dose)
    _age(ctx)
    _allergy(ctx)
    if first_dose:
        _cytoreduction(ctx, fresh)
    _response_known(ctx, st, dose)
    if dose.day == 1 and dose.cycle > 1:
        _hematologic(ctx, st, dose, fresh)
    elif dose.day != 1:
        _within_cycle_counts(ctx, fresh)
    _hepatic(ctx, fresh)
    _lab_grades(ctx, st, fresh)
    _toxicities(ctx, st)


def _body_data(ctx: Context, body: BodyUsed) -> None:
    missing = [
        n for n, v in (("height_cm", body.height_cm), ("weight_kg", body.weight_kg)) if v is None
    ]
    if missing:
        ctx.reason(
            "data.missing-height-weight",
            "inoplan-policy",
            f"No dose without {' and '.join(missing)}: record a vitals event with "
            f"{' and '.join(missing)}.",
            {"missing": missing},
            verdict="cannot_decide",
        )
        ctx.alert("MISSING_DATA", f"Needed: {', '.join(missing)}.", {"missing": missing})


def _labs(ctx: Context, dose: PlannedDose, first_dose: bool) -> dict[str, LabReading]:
    needed = list(_HEPATIC)
    if dose.day == 1:
        needed = ["anc", "platelets", *needed]
    if first_dose:
        needed.append("peripheral_blasts")
    fresh: dict[str, LabReading] = {}
    stale: list[str] = []
    missing: list[str] = []
    transfused_only: list[str] = []
    since_day = ctx.on - timedelta(days=ctx.lab_max_age_days)
    for analyte in needed:
        reading = ctx.fresh(analyte)
        if reading is not None:
            fresh[analyte] = reading
            continue
        if any(
            day >= since_day and day <= ctx.on and name == analyte
            for day, name, _ in ctx.contradicted_labs
        ):
            continue  # contradictory values: data.contradictory-values says so (cannot decide)
        if ctx.fresh(analyte, usable=False) is not None:
            transfused_only.append(analyte)
        elif ctx.latest(analyte, until=ctx.on) is not None:
            stale.append(analyte)
        else:
            missing.append(analyte)
    window = ctx.lab_max_age_days
    since = ctx.on.toordinal() - window
    inputs = {"as_of": ctx.on, "lab_max_age_days": window, "since": date.fromordinal(since)}
    if stale or missing:
        latest = {a: ctx.latest(a, until=ctx.on) for a in stale}
        ctx.reason(
            "data.stale-labs",
            "lab_max_age_days",
            f"Labs needed for cycle {dose.cycle} day {dose.day} dated "
            f"{date.fromordinal(since).isoformat()} "
            f"to {ctx.on.isoformat()}: "
            + ", ".join(stale + missing)
            + ("" if not stale else " (latest results too old)")
            + ("" if not missing else " (none on record)" if not stale else "; some never recorded")
            + ".",
            {
                **inputs,
                "needed": stale + missing,
                "stale": {a: r.on for a, r in latest.items() if r},
                "missing": missing,
            },
            verdict="cannot_decide",
        )
        ctx.alert(
            "STALE_LABS", f"Needed: {', '.join(stale + missing)}.", {"needed": stale + missing}
        )
        if missing:
            ctx.alert(
                "MISSING_DATA", f"Never recorded: {', '.join(missing)}.", {"missing": missing}
            )
    if transfused_only:
        ctx.reason(
            "hematologic.transfused-platelets-ignored",
            "dose-mod-hematologic",
            "Only platelet counts taken under transfusion support are recent; a transfusion-"
            "independent platelet count is needed.",
            {
                **inputs,
                "transfused": [
                    r.inputs() for a in transfused_only if (r := ctx.fresh(a, usable=False))
                ],
            },
            verdict="cannot_decide",
        )
    return fresh


def _pregnancy(ctx: Context, first_dose: bool) -> None:
    patient = ctx.course.patient
    if patient.sex != "female" or patient.reproductive_potential is False:
        return
    tests = list(ctx.course.of_type(PregnancyTestEvent))
    if tests and tests[-1].result == "positive":
        ctx.reason(
            "safety.pregnancy-test-positive",
            ("embryo-fetal", "pregnancy_test"),
            f"Positive pregnancy test on {tests[-1].date.isoformat()}: BESPONSA can cause fetal "
            "harm; "
            "do not dose until reviewed.",
            {"date": tests[-1].date, "result": "positive"},
            interpretation=ctx.interpretation("pregnancy_test"),
            verdict="hold",
        )
        ctx.alert("PREGNANCY_TEST", "Latest test positive.", {"date": tests[-1].date})
    elif first_dose and not tests:
        ctx.reason(
            "safety.pregnancy-test-missing",
            "pregnancy_test",
            "A pregnancy test before the first dose is needed for a female of reproductive "
            "potential (record a pregnancy_test event).",
            {"sex": patient.sex, "reproductive_potential": patient.reproductive_potential},
            interpretation=ctx.interpretation("pregnancy_test"),
            verdict="cannot_decide",
        )
        ctx.alert("PREGNANCY_TEST", "No pregnancy test on record.")


def _age(ctx: Context) -> None:
    age = age_years(ctx.course.patient.birth_date, ctx.on)
    if age < ctx.label.min_age_years:
        ctx.reason(
            "safety.age",
            ctx.label.min_age_citation,
            f"Age {age} years is below {ctx.label.min_age_years} years: safety and effectiveness "
            "not established.",
            {"age_years": age, "birth_date": ctx.course.patient.birth_date},
            verdict="hold",
        )
        ctx.alert("AGE", None, {"age_years": age})


def _allergy(ctx: Context) -> None:
    matches, related, unclear = allergy_screen(ctx)
    for allergy, close in unclear:
        inputs: dict[str, Any] = {"allergy": allergy, "resembles": [a.name for a in close]}
        ctx.reason(
            "safety.allergy-unclear",
            (ctx.label.excipients_citation, "allergy"),
            f"Recorded allergy {allergy!r} is not a known name but resembles "
            + ", ".join(a.name for a in close)
            + " (an ingredient of BESPONSA): confirm what the patient is allergic to and record "
            "it by name before dosing.",
            inputs,
            interpretation=ctx.interpretation("allergy"),
            verdict="cannot_decide",
        )
        ctx.alert("ALLERGY_UNCLEAR", f"{allergy!r} resembles {close[0].name}.", inputs)
    for match in related:
        inputs = {
            "allergy": match.allergy,
            "substance": match.allergen.name,
            "related_to": list(match.allergen.related_to),
            "note": match.allergen.note,
        }
        ctx.reason(
            "safety.allergy-cross-reactivity",
            (ctx.label.excipients_citation, "allergy"),
            f"Recorded allergy to {match.allergy!r} ({match.allergen.name}): not an ingredient, "
            f"but cross-reactivity is reported. {match.allergen.note or ''}".strip(),
            inputs,
            interpretation=ctx.interpretation("allergy"),
        )
        ctx.alert("ALLERGY_CROSS_REACTIVITY", f"{match.allergy} ({match.allergen.name}).", inputs)
    if not matches or "hypersensitivity" in ctx.label.contraindication_details:
        return  # where hypersensitivity is a contraindication the final rules stop treatment
    inputs = {
        "allergies": [m.allergy for m in matches],
        "substances": [m.allergen.name for m in matches],
    }
    ctx.reason(
        "safety.allergy",
        (ctx.label.excipients_citation, "allergy"),
        "Recorded allergy to "
        + ", ".join(f"{m.allergy} ({m.allergen.name})" for m in matches)
        + ": do not dose until a clinician has reviewed it.",
        inputs,
        interpretation=ctx.interpretation("allergy"),
        verdict="hold",
    )
    ctx.alert("ALLERGY", None, inputs)


def _cytoreduction(ctx: Context, fresh: dict[str, LabReading]) -> None:
    blasts = fresh.get("peripheral_blasts")
    if blasts is None:
        return
    limit = ctx.number("cytoreduction_peripheral_blasts")
    inputs = {"peripheral_blasts": blasts.inputs(), "limit": limit}
    if blasts.value.value > limit:
        ctx.reason(
            "safety.cytoreduction",
            "cytoreduction_peripheral_blasts",
            f"Peripheral blasts {blasts.value.value} x 10^9/L > {limit} x 10^9/L before the first "
            f"dose: cytoreduce to <= {limit} x 10^9/L first.",
            inputs,
            verdict="hold",
        )
        ctx.alert("CYTOREDUCTION", None, inputs)


def _response_known(ctx: Context, st: CourseState, dose: PlannedDose) -> None:
    if dose.day != 1 or dose.cycle == 1:
        return
    day1 = max(ctx.on, dose.scheduled)
    if any(r.date <= day1 for r in ctx.course.of_type(ResponseEvent)):
        return
    schedules = ctx.label.regimen.schedules
    options = {
        "CR/CRi": schedules["later-after-cr"].mg_per_m2_on(1),
        "no CR/CRi": schedules["later-no-cr"].mg_per_m2_on(1),
    }
    ctx.reason(
        "regimen.no-response-recorded",
        ("dosing-regimen", "response_needed"),
        f"No response assessment on or before cycle {dose.cycle} day 1: CR/CRi has not been "
        "documented, "
        f"so the not-in-remission dose applies ({options['no CR/CRi']} mg/m2; "
        f"{options['CR/CRi']} mg/m2 once CR/CRi is recorded).",
        {"cycle": dose.cycle, "options_mg_per_m2": options},
        interpretation=ctx.interpretation("response_needed"),
    )


def _hematologic(
    ctx: Context, st: CourseState, dose: PlannedDose, fresh: dict[str, LabReading]
) -> None:
    anc_limit = ctx.number("anc_recovery")
    plt_limit = ctx.number("platelets_recovery")
    prior_start = st.cycle_start(dose.cycle - 1)
    if prior_start is None:
        return
    base_anc = ctx.latest("anc", until=prior_start)
    base_plt = ctx.latest("platelets", until=prior_start)
    anc, plt = fresh.get("anc"), fresh.get("platelets")
    if base_anc is None or base_plt is None:
        missing = [n for n, v in (("anc", base_anc), ("platelets", base_plt)) if v is None]
        ctx.reason(
            "hematologic.baseline-missing",
            ("dose-mod-hematologic", "baseline_labs"),
            f"No baseline {' and '.join(missing)} before cycle {dose.cycle - 1} day 1 "
            f"({prior_start.isoformat()}): Table 2 cannot be applied.",
            {"prior_cycle_start": prior_start, "missing": missing},
            interpretation=ctx.interpretation("baseline_labs"),
            verdict="cannot_decide",
        )
        return
    if anc is None or plt is None:
        return  # stale or missing: already cannot_decide
    a, p = anc.value.value, plt.value.value
    ba, bp = base_anc.value.value, base_plt.value.value
    inputs: dict[str, Any] = {
        "anc": anc.inputs(),
        "platelets": plt.inputs(),
        "baseline_anc": ba,
        "baseline_platelets": bp,
        "baseline_dates": {"anc": base_anc.on, "platelets": base_plt.on},
        "anc_recovery": anc_limit,
        "platelets_recovery": plt_limit,
    }
    interp = ctx.interpretation("hematologic_rows")
    if ba >= anc_limit and bp >= plt_limit:
        low = []
        if a < anc_limit:
            low.append(f"ANC {a} < {anc_limit}")
        if p < plt_limit:
            low.append(f"platelets {p} < {plt_limit}")
        if low:
            ctx.reason(
                "hematologic.not-recovered",
                "dose-mod-hematologic",
                f"Hold cycle {dose.cycle} day 1 until ANC >= {anc_limit} and platelets >= "
                f"{plt_limit} "
                f"x 10^9/L (baseline ANC {ba}, platelets {bp}): {', '.join(low)}.",
                inputs,
                interpretation=interp,
                verdict="hold",
            )
        else:
            ctx.reason(
                "hematologic.recovered",
                "dose-mod-hematologic",
                f"Counts recovered for cycle {dose.cycle}: ANC {a} >= {anc_limit}, platelets {p} "
                f">= {plt_limit}.",
                inputs,
                interpretation=interp,
            )
        return
    # Low-baseline row: any one of three conditions.
    responses = list(ctx.course.of_type(ResponseEvent))
    judged = next(
        (
            r
            for r in reversed(responses)
            if r.disease_stable_or_improved is not None or r.cytopenia_due_to_disease is not None
        ),
        None,
    )
    conditions = {
        "back_to_prior_baseline": a >= ba and p >= bp,
        "anc_and_platelets_recovered": a >= anc_limit and p >= plt_limit,
        "stable_disease_cytopenia_due_to_leukemia": bool(
            judged and judged.disease_stable_or_improved and judged.cytopenia_due_to_disease
        ),
    }
    inputs["conditions"] = conditions
    if judged is not None:
        inputs["judgement"] = {
            "date": judged.date,
            "disease_stable_or_improved": judged.disease_stable_or_improved,
            "cytopenia_due_to_disease": judged.cytopenia_due_to_disease,
        }
    met = [k for k, v in conditions.items() if v]
    if met:
        ctx.reason(
            "hematologic.low-baseline-recovered",
            "dose-mod-hematologic",
            f"Low baseline (ANC {ba}, platelets {bp}): cycle {dose.cycle} may start "
            f"({', '.join(met)}).",
            inputs,
            interpretation=interp,
        )
    else:
        ctx.reason(
            "hematologic.low-baseline-not-recovered",
            "dose-mod-hematologic",
            f"Low baseline (ANC {ba}, platelets {bp}): hold cycle {dose.cycle} day 1 until counts "
            "are "
            f"back to the prior cycle's baseline, or ANC >= {anc_limit} and platelets >= "
            f"{plt_limit}, or "
            "disease is stable/improved with cytopenia judged due to the leukemia (now ANC "
            f"{a}, platelets {p}).",
            inputs,
            interpretation=interp,
            verdict="hold",
        )


def _within_cycle_counts(ctx: Context, fresh: dict[str, LabReading]) -> None:
    low = {}
    for analyte, key in (("anc", "anc_recovery"), ("platelets", "platelets_recovery")):
        reading = ctx.fresh(analyte)
        if reading is not None and reading.value.value < ctx.number(key):
            low[analyte] = reading.inputs()
    if low:
        ctx.reason(
            "hematologic.within-cycle-not-applied",
            "dose-mod-general",
            "Low counts do not hold day 8/15 doses (hematologic modifications apply to the next "
            "cycle only).",
            low,
        )


def _hepatic(ctx: Context, fresh: dict[str, LabReading]) -> None:
    bili = fresh.get("bilirubin")
    if bili is None:
        return
    ast, alt = fresh.get("ast"), fresh.get("alt")
    if not hepatic_condition(ctx, bili, ast, alt):
        return
    inputs = {
        "bilirubin": bili.inputs(),
        "ast": ast.inputs() if ast else None,
        "alt": alt.inputs() if alt else None,
        "bilirubin_limit_x_uln": ctx.number("bilirubin_x_uln"),
        "ast_alt_limit_x_uln": ctx.number("ast_alt_x_uln"),
    }
    history = ctx.course.patient.history
    hemolysis = hemolysis_on(ctx, ctx.on)
    if history.gilbert_syndrome or hemolysis:
        why = "Gilbert's syndrome" if history.gilbert_syndrome else "hemolysis"
        ctx.reason(
            "hepatic.exempt-gilbert-or-hemolysis",
            ("bilirubin_x_uln", "hepatic_and"),
            f"Bilirubin/AST/ALT rise attributed to {why}: the Table 3 hepatic interruption does "
            "not apply.",
            {**inputs, "gilbert_syndrome": history.gilbert_syndrome, "hemolysis": hemolysis},
            interpretation=ctx.interpretation("hepatic_and"),
        )
        return
    ctx.reason(
        "hepatic.bilirubin-and-transaminases",
        ("bilirubin_x_uln", "hepatic_and"),
        f"Total bilirubin > {ctx.number('bilirubin_x_uln')} x ULN and AST/ALT > "
        f"{ctx.number('ast_alt_x_uln')} x ULN: hold until bilirubin <= "
        f"{ctx.number('bilirubin_x_uln')} "
        f"x ULN and AST/ALT <= {ctx.number('ast_alt_x_uln')} x ULN; permanently discontinue if "
        "they "
        "do not recover.",
        inputs,
        interpretation=ctx.interpretation("hepatic_and"),
        verdict="hold",
    )


def _lab_grades(ctx: Context, st: CourseState, fresh: dict[str, LabReading]) -> None:
    first = st.first_dose_on
    if first is None:
        return  # before the first dose the current grade is the pre-treatment grade
    limit = int(ctx.number("nonhematologic_interrupt_grade"))
    for analyte in _HEPATIC:
        reading = fresh.get(analyte)
        if reading is None or reading.value.uln is None:
            continue
        kind = "bilirubin" if analyte == "bilirubin" else "aminotransferase"
        uln_bounds = _bounds(ctx, f"ctcae_{kind}_x_uln")
        baseline_bounds = _bounds(ctx, f"ctcae_{kind}_x_baseline")
        inclusive = kind == "aminotransferase"
        base = ctx.latest(analyte, until=first)
        base_value = base.value.value if base else None
        now, against, ratio = ctcae.grade(
            reading.value.value,
            reading.value.uln,
            base_value,
            uln_bounds=uln_bounds,
            baseline_bounds=baseline_bounds,
            first_bound_inclusive=inclusive,
        )
        if base is not None and against == "ULN":
            before, _, _ = ctcae.grade(
                base.value.value,
                base.value.uln or reading.value.uln,
                None,
                uln_bounds=uln_bounds,
                baseline_bounds=baseline_bounds,
                first_bound_inclusive=inclusive,
            )
        else:
            before = 0
        if now >= limit and now > before:
            recover_to = max(int(ctx.number("nonhematologic_recovered_grade")), before)
            ctx.reason(
                f"nonhematologic.lab-grade.{analyte}",
                (
                    f"ctcae_{kind}_x_uln",
                    "nonhematologic_interrupt_grade",
                    "nonhematologic_pretreatment",
                ),
                f"{analyte.upper() if analyte != 'bilirubin' else 'Bilirubin'} CTCAE grade {now} "
                f"({ratio.quantize(Decimal('0.01'))} x {against}): non-hematologic toxicity grade "
                f">= {limit}; "
                f"hold until grade <= {recover_to}.",
                {
                    analyte: reading.inputs(),
                    "grade": now,
                    "graded_against": against,
                    "ratio": ratio.quantize(Decimal("0.01")),
                    "baseline": base.inputs() if base else None,
                    "pretreatment_grade": before,
                },
                interpretation=ctx.interpretation("nonhematologic_pretreatment"),
                verdict="hold",
            )


def _bounds(ctx: Context, key: str) -> tuple[Decimal, ...]:
    value = ctx.label.threshold(key).value
    return value if isinstance(value, tuple) else (value,)


def _toxicities(ctx: Context, st: CourseState) -> None:
    limit = int(ctx.number("nonhematologic_interrupt_grade"))
    recovered = int(ctx.number("nonhematologic_recovered_grade"))
    before = pretreatment_grades(ctx.toxicities, st.first_dose_on)
    for code, entry in latest_by_code(ctx.toxicities).items():
        if entry.category in ("hematologic", "vod", "liver_severe") or severe_liver(ctx, entry):
            continue  # Table 2 at the next cycle; VOD and severe liver toxicity stop treatment
        baseline = before.get(code, 0) if st.first_dose_on is not None else entry.grade
        if entry.grade >= limit and entry.grade > baseline:
            rule = (
                "infusion.reaction-hold"
                if entry.category == "infusion_reaction"
                else "nonhematologic.grade-2-or-more"
            )
            coded = "" if entry.recognised else " (term not recognised: counted under this row)"
            ctx.reason(
                rule,
                ("nonhematologic_interrupt_grade", "nonhematologic_pretreatment"),
                f"{entry.name[:1].upper()}{entry.name[1:]} grade {entry.grade} (since "
                f"{entry.date.isoformat()}){coded}: hold until grade <= "
                f"{max(recovered, baseline)}.",
                {
                    **entry.inputs(),
                    "related": entry.event.related,
                    "pretreatment_grade": baseline,
                },
                interpretation=ctx.interpretation("nonhematologic_pretreatment"),
                verdict="hold",
            )


#: Categories whose terms can end treatment (Table 3): an unrecognised text that names or
#: resembles one of them cannot be passed over as an ordinary toxicity.
_STOPPING = ("vod", "liver_severe", "liver", "infusion_reaction")


def coding_reasons(ctx: Context, *, ongoing: bool) -> None:
    """Toxicity terms that were not recognised: counted under 'any other non-hematologic
    toxicity' by their grade (``_toxicities``), and said so, with a request to code them."""
    row = ctx.label.threshold("nonhematologic_interrupt_grade").citation
    for entry in ctx.toxicities:
        coding = entry.coding
        if entry.recognised and not coding.unmatched:
            continue
        if entry.recognised:  # part of the text was recognised, part was not
            inputs = {**entry.inputs(), "not_recognised": list(coding.unmatched)}
            ctx.alert(
                "TERM_NOT_CODED",
                f"{entry.event.term!r} on {entry.date.isoformat()}: coded as {entry.name}; "
                f"{', '.join(repr(u) for u in coding.unmatched)} not recognised.",
                inputs,
            )
            continue
        suggestions = list(coding.suggestions)
        inputs = {
            **entry.inputs(),
            "counted_under": "any other non-hematologic toxicity",
            "did_you_mean": [t.name for t in suggestions],
        }
        hint = (
            " Did you mean: " + "; ".join(t.name for t in suggestions) + "?" if suggestions else ""
        )
        ctx.reason(
            "data.term-not-recognised",
            (row, "nonhematologic_interrupt_grade"),
            f"Toxicity term {entry.event.term!r} (grade {entry.grade}, "
            f"{entry.date.isoformat()}) is not a recognised term: it is counted under 'any "
            "other non-hematologic toxicity' by its grade; record it with a CTCAE v5.0 term."
            + hint,
            inputs,
        )
        ctx.alert(
            "TERM_NOT_CODED",
            f"{entry.event.term!r} (grade {entry.grade}, {entry.date.isoformat()})." + hint,
            inputs,
        )
        stopping = [t for t in suggestions if t.category in _STOPPING]
        if stopping and ongoing and entry.grade >= 1:
            ctx.reason(
                "data.term-may-stop-treatment",
                (row, "dose-mod-nonhematologic"),
                f"Toxicity term {entry.event.term!r} names or resembles "
                + "; ".join(f"{t.name} ({t.category.replace('_', ' ')})" for t in stopping)
                + ", which can mean permanent discontinuation (Table 3): code the term before "
                "any further dose.",
                {**inputs, "stopping_terms": [t.code for t in stopping]},
                verdict="cannot_decide",
            )
