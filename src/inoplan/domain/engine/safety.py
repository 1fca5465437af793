"""Safety alerts that accompany every decision: VOD, HSCT, QT, reproduction, data quality. Pure."""

from __future__ import annotations

import calendar
from datetime import date
from decimal import Decimal
from typing import Any

from inoplan.domain.course import EcgEvent, MedicationEvent, VitalsEvent, age_years
from inoplan.domain.dosing import dose_mg
from inoplan.domain.engine.context import Context
from inoplan.domain.engine.qt import (
    QtDrugList,
    medication_ledger,
    medicine_identity,
    normalise_name,
)
from inoplan.domain.engine.state import CourseState, planned_transplants
from inoplan.domain.engine.values import KeyDates
from inoplan.domain.planner import BodyUsed, PlannedDose, body_used
from inoplan.domain.units import MINUTES_PER_HOUR

__all__ = ["add_months", "check_safety", "key_dates"]


def add_months(day: date, months: int) -> date:
    """Calendar months later, clamped to the month's last day.

    >>> add_months(date(2026, 12, 1), 8), add_months(date(2027, 1, 31), 1)
    (datetime.date(2027, 8, 1), datetime.date(2027, 2, 28))
    """
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def check_safety(
    ctx: Context,
    st: CourseState,
    next_dose: PlannedDose | None,
    body: BodyUsed,
    *,
    due: bool,
    ongoing: bool,
    qt_drugs: QtDrugList | None,
) -> None:
    if next_dose is not None and ongoing:
        ctx.alert("PREMEDICATION")
        ctx.alert("OBSERVATION")
        _stale_weight(ctx, body)
        if not st.given:
            _before_start(ctx, next_dose)
    _vod_risk(ctx, st, next_dose)
    _vod_suspected(ctx, st, due=due)
    _hsct(ctx)
    if ongoing or st.given:
        _qt(ctx, st, qt_drugs)
    _dose_deviation(ctx, st)
    _infusion_care(ctx, st)
    _reproduction(ctx, ongoing)


def _infusion_care(ctx: Context, st: CourseState) -> None:
    """A dose recorded without the label's full premedication, or observed for less than the
    label's time after the infusion: a warning with the reason recorded, on every later
    decision (the course's record, like a deliberate override)."""
    required = ctx.number("observation_hours") * MINUTES_PER_HOUR
    for dose in st.recorded:
        event = dose.event
        where = f"Cycle {event.cycle} day {event.day} ({event.date.isoformat()})"
        missing = event.premedication_missing
        if missing:
            inputs = {
                **dose.inputs(),
                "premedication_given": list(event.premedication or ()),
                "premedication_missing": list(missing),
                "reason": event.premedication_reason,
            }
            ctx.reason(
                "safety.premedication-not-given",
                "premedication",
                f"{where}: premedication not given in full (not given: {', '.join(missing)}); "
                f"reason recorded: {event.premedication_reason or 'none'}.",
                inputs,
            )
            ctx.alert(
                "PREMEDICATION_NOT_GIVEN",
                f"{where}: not given: {', '.join(missing)}. Reason: "
                f"{event.premedication_reason or 'none recorded'}.",
                inputs,
            )
        if event.observation_min is not None and event.observation_min < required:
            inputs = {
                **dose.inputs(),
                "observation_min": event.observation_min,
                "required_min": required,
                "reason": event.observation_reason,
            }
            ctx.reason(
                "safety.observation-short",
                "observation_hours",
                f"{where}: observed {event.observation_min} minutes after the infusion, fewer "
                f"than the label's {required:f}; reason recorded: "
                f"{event.observation_reason or 'none'}.",
                inputs,
            )
            ctx.alert(
                "OBSERVATION_SHORT",
                f"{where}: {event.observation_min} of {required:f} minutes. Reason: "
                f"{event.observation_reason or 'none recorded'}.",
                inputs,
            )


def _before_start(ctx: Context, first: PlannedDose) -> None:
    """What a label asks to establish before the first dose that the course document does not
    record (the EU SmPC 4.2: CD22 positivity; uric-acid lowering and hydration for a high tumour
    burden). Raised only where the label's file carries the alert text (the label is data)."""
    inputs: dict[str, Any] = {"first_dose": first.scheduled, "doses_given": 0}
    if "CD22_TEST" in ctx.label.alerts:
        ctx.reason(
            "safety.cd22-before-start",
            "cd22",
            "Before the first dose: CD22 positivity (> 0 % by a validated, sensitive assay) must "
            "be established; the course record holds no CD22 result, so confirm it.",
            inputs,
        )
        ctx.alert("CD22_TEST", None, inputs)
    if "TUMOUR_BURDEN" in ctx.label.alerts:
        blasts = ctx.latest("peripheral_blasts", until=ctx.on)
        burden = {
            **inputs,
            "peripheral_blasts": blasts.inputs() if blasts is not None else None,
        }
        ctx.reason(
            "safety.tumour-burden",
            "premedication",
            "Before the first dose: for a high tumour burden, uric-acid-lowering premedication "
            "and hydration are recommended (the label sets no number; the clinician judges the "
            "burden).",
            burden,
        )
        ctx.alert("TUMOUR_BURDEN", None, burden)


def _stale_weight(ctx: Context, body: BodyUsed) -> None:
    if body.weight_on is None:
        return
    age = (ctx.on - body.weight_on).days
    limit = ctx.weight_max_age_days
    if age > limit:
        inputs = {
            "weight_kg": body.weight_kg,
            "weight_date": body.weight_on,
            "age_days": age,
            "limit_days": limit,
        }
        ctx.reason(
            "data.stale-weight",
            "weight_max_age_days",
            f"Latest weight ({body.weight_kg} kg on {body.weight_on.isoformat()}) is {age} days "
            "old "
            f"(> {limit}): re-weigh and recalculate the dose.",
            inputs,
        )
        ctx.alert("STALE_WEIGHT", None, inputs)


def _vod_risk(ctx: Context, st: CourseState, next_dose: PlannedDose | None) -> None:
    patient = ctx.course.patient
    history = patient.history
    factors: dict[str, Any] = {}
    age = age_years(patient.birth_date, ctx.on)
    if age >= ctx.number("vod_risk_age_years"):
        factors["age_years"] = age
    if history.liver_disease in ("prior", "ongoing"):
        factors["liver_disease"] = history.liver_disease
    if history.prior_vod:
        factors["prior_vod"] = True
    if history.prior_hsct:
        factors["prior_hsct"] = True
    if history.salvage_line is not None and history.salvage_line >= ctx.number(
        "vod_risk_salvage_line"
    ):
        factors["salvage_line"] = history.salvage_line
    cycle = next_dose.cycle if next_dose is not None else (st.current[0] if st.current else 1)
    if cycle >= ctx.number("vod_risk_cycles"):
        factors["cycle"] = cycle
    if not factors:
        return
    interpretations = [
        ctx.interpretation(k)
        for k, f in (
            ("vod_risk_age_years", "age_years"),
            ("vod_risk_salvage_line", "salvage_line"),
            ("vod_risk_cycles", "cycle"),
        )
        if f in factors
    ]
    ctx.reason(
        "safety.vod-risk",
        "boxed-warning",
        "VOD risk factors: "
        + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in factors.items())
        + ".",
        factors,
        interpretation=" ".join(i for i in interpretations if i) or None,
    )
    ctx.alert(
        "VOD_RISK",
        "Present: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in factors.items()) + ".",
        factors,
    )


def _vod_suspected(ctx: Context, st: CourseState, *, due: bool) -> None:
    first, last = st.first_dose_on, st.last_dose_on
    if first is None or last is None:
        return
    watch = int(ctx.number("vod_watch_days_after_last_dose"))
    if (ctx.on - last).days > watch:
        return
    signs: dict[str, Any] = {}
    bili = ctx.latest("bilirubin", until=ctx.on, since=first)
    bili_limit = ctx.number("vod_bilirubin_mg_per_dl")
    if bili is not None and bili.value.value >= bili_limit:
        signs["bilirubin_mg_per_dl"] = bili.value.value
    baseline_weight = body_used(
        ctx.course, ctx.course.plan.bsa_formula, ctx.policy, on=first
    ).weight_kg
    latest_weight = None
    hepatomegaly = ascites = None
    for event in ctx.course.of_type(VitalsEvent):
        if event.date < first:
            continue
        if event.weight_kg is not None:
            latest_weight = event.weight_kg
        if event.hepatomegaly is not None:
            hepatomegaly = event.hepatomegaly
        if event.ascites is not None:
            ascites = event.ascites
    gain_limit = ctx.number("vod_weight_gain_percent")
    if baseline_weight and latest_weight is not None:
        gain = (latest_weight - baseline_weight) / baseline_weight * 100
        if gain > gain_limit:
            signs["weight_gain_percent"] = gain.quantize(Decimal("0.1"))
    if hepatomegaly:
        signs["hepatomegaly"] = True
    if ascites:
        signs["ascites"] = True
    if not signs:
        return
    need = int(ctx.number("vod_signs_min_count"))
    pediatric = age_years(ctx.course.patient.birth_date, ctx.on) < ctx.number(
        "vod_pediatric_below_age_years"
    )
    others = len([k for k in signs if k != "bilirubin_mg_per_dl"])
    if pediatric:
        criteria = ctx.cite("ebmt-vod-pediatric-2018")
        met = len(signs) >= need
    else:
        criteria = ctx.cite("ebmt-vod-2016")
        met = "bilirubin_mg_per_dl" in signs and others >= need
    inputs = {
        **signs,
        "criteria": criteria.text,
        "criteria_met": met,
        "days_since_last_dose": (ctx.on - last).days,
    }
    detail = (
        f"{criteria.text}: "
        + ("criteria met" if met else "criteria not met")
        + "; signs: "
        + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in signs.items())
        + "."
    )
    ctx.alert("VOD_SUSPECTED", detail, inputs, severity=None if met else "warning")
    ctx.reason(
        "safety.vod-suspected" if met else "safety.vod-signs",
        (criteria, "hepatotoxicity", "vod_suspected"),
        ("Suspected VOD/SOS: " if met else "Sign(s) compatible with VOD/SOS: ")
        + detail
        + (
            " Hold and evaluate; permanently discontinue if VOD is confirmed."
            if met
            else " Evaluate."
        ),
        inputs,
        interpretation=ctx.interpretation("vod_suspected"),
        verdict="hold" if met and due else None,
    )


def alkylating_agents(ctx: Context, agents: tuple[str, ...]) -> list[str]:
    canonical: dict[str, str] = {}
    for entry in ctx.label.rule("alkylating_agents").terms:
        names = entry.split("|")
        for name in names:
            canonical[normalise_name(name)] = names[0]
    found: list[str] = []
    for agent in agents:
        name = normalise_name(agent)
        hit = canonical.get(name) or next(
            (c for n, c in canonical.items() if f" {n} " in f" {name} "), None
        )
        if hit and hit not in found:
            found.append(hit)
    return found


def _hsct(ctx: Context) -> None:
    transplants = planned_transplants(ctx.course)
    if not transplants:
        return
    plan = transplants[-1]
    found = alkylating_agents(ctx, plan.conditioning)
    need = int(ctx.number("hsct_alkylating_agents"))
    if len(found) >= need:
        inputs = {
            "conditioning": list(plan.conditioning),
            "alkylating_agents": found,
            "hsct_date": plan.date,
        }
        ctx.reason(
            "safety.hsct-conditioning",
            ("hsct_alkylating_agents", "alkylating_agents"),
            f"Planned HSCT conditioning contains {len(found)} alkylating agents "
            f"({', '.join(found)}).",
            inputs,
            interpretation=ctx.interpretation("alkylating_agents"),
        )
        ctx.alert("HSCT_CONDITIONING", f"Agents: {', '.join(found)}.", inputs)
    bili = ctx.latest("bilirubin", until=min(ctx.on, plan.date))
    limit = ctx.number("hsct_bilirubin_x_uln")
    if bili is not None and bili.value.x_uln is not None and bili.value.x_uln >= limit:
        inputs = {"bilirubin": bili.inputs(), "limit_x_uln": limit, "hsct_date": plan.date}
        ctx.reason(
            "safety.hsct-bilirubin",
            "hsct_bilirubin_x_uln",
            "Latest total bilirubin before the planned HSCT is "
            f"{bili.value.x_uln.quantize(Decimal('0.01'))} x ULN "
            f"(>= {limit} x ULN).",
            inputs,
        )
        ctx.alert("HSCT_BILIRUBIN", None, inputs)


def _qt(ctx: Context, st: CourseState, qt_drugs: QtDrugList | None) -> None:
    ecgs = list(ctx.course.of_type(EcgEvent))
    first = st.first_dose_on
    baseline = [e for e in ecgs if first is None or e.date <= first]
    if not baseline:
        ctx.reason(
            "safety.qt-ecg-missing",
            "qt-prolongation",
            "No ECG on record before the first dose: obtain a baseline ECG and electrolytes.",
            {"first_dose_on": first},
        )
        ctx.alert("QT_ECG")
    if ecgs:
        latest = ecgs[-1]
        warn, crit = ctx.number("qtcf_warning_ms"), ctx.number("qtcf_critical_ms")
        rise_limit = ctx.number("qtcf_increase_critical_ms")
        rise = (
            latest.qtcf_ms - baseline[-1].qtcf_ms
            if baseline and baseline[-1] is not latest
            else None
        )
        inputs = {"qtcf_ms": latest.qtcf_ms, "date": latest.date, "increase_ms": rise}
        if latest.qtcf_ms >= crit or (rise is not None and rise > rise_limit):
            ctx.reason(
                "safety.qt-prolonged",
                ("qtcf_critical_ms", "qt-prolongation"),
                f"QTcF {latest.qtcf_ms} ms (CTCAE grade 3: >= {crit} ms or > {rise_limit} ms "
                "rise).",
                inputs,
            )
            ctx.alert("QT_PROLONGED", "CTCAE grade 3.", inputs, severity="critical")
        elif latest.qtcf_ms >= warn:
            ctx.reason(
                "safety.qt-prolonged",
                ("qtcf_warning_ms", "qt-prolongation"),
                f"QTcF {latest.qtcf_ms} ms (CTCAE grade 2: >= {warn} ms).",
                inputs,
            )
            ctx.alert("QT_PROLONGED", "CTCAE grade 2.", inputs)
    ledger = medication_ledger(ctx.course.of_type(MedicationEvent), medicine_identity(qt_drugs))
    for stop in ledger.unmatched_stops:
        inputs = {"medication": stop.name, "date": stop.date, "taken": list(ledger.taken)}
        ctx.reason(
            "safety.medication-stop-unmatched",
            ("qt-drug-list", "qt-prolongation"),
            f"{stop.name!r} recorded as stopped on {stop.date.isoformat()} matches no medicine "
            "being taken (by generic, brand or synonym): nothing was taken off the list.",
            inputs,
        )
        ctx.alert("MEDICATION_STOP_UNMATCHED", f"{stop.name} ({stop.date.isoformat()}).", inputs)
    medications = list(ledger.taken)
    if qt_drugs is None:
        ctx.notes.append(
            "No QT medicine list was supplied to the engine; only site-listed names were screened."
        )
        qt_drugs = QtDrugList(title="site", citation=ctx.cite("qt-drug-list").text, drugs=())
    for match in qt_drugs.match(medications, ctx.policy.extra_qt_drugs):
        drug = match.drug
        inputs = {
            "medication": match.medication,
            "ingredient": drug.generic,
            "tag": drug.tag,
            "label_section": drug.where,
            "source": drug.source,
            "status": drug.status,
        }
        ctx.reason(
            "safety.qt-drug",
            ("qt-drug-list", "qt-prolongation"),
            f"{match.medication}: QT-prolonging ({drug.generic}, US label {drug.tag}: "
            f"{drug.where}).",
            inputs,
        )
        ctx.alert("QT_DRUG", f"{match.medication} ({drug.generic}, {drug.tag}).", inputs)
    for analyte, key in (
        ("potassium", "potassium_lln_default"),
        ("magnesium", "magnesium_lln_default"),
    ):
        reading = ctx.fresh(analyte)
        if reading is None:
            continue
        lln = reading.value.lln if reading.value.lln is not None else ctx.number(key)
        if reading.value.value < lln:
            inputs = {analyte: reading.inputs(), "lln": lln}
            ctx.reason(
                "safety.electrolytes",
                ("qt-prolongation", key),
                f"{analyte.capitalize()} {reading.value.value} mmol/L < {lln} mmol/L: correct "
                "before dosing.",
                inputs,
            )
            ctx.alert("ELECTROLYTES", None, inputs)


def _dose_deviation(ctx: Context, st: CourseState) -> None:
    limit = ctx.number("dose_deviation_percent")
    bodies: dict[tuple[date | None, date | None], BodyUsed] = {}
    vitals = [(e.date, e.height_cm, e.weight_kg) for e in ctx.course.of_type(VitalsEvent)]
    for dose in st.given:
        if dose.given_on is None or dose.given_mg is None:
            continue
        height_on = max(
            (d for d, h, _ in vitals if h is not None and d <= dose.given_on), default=None
        )
        weight_on = max(
            (d for d, _, w in vitals if w is not None and d <= dose.given_on), default=None
        )
        key = (height_on, weight_on)
        if key not in bodies:  # the BSA in force on the day of the dose
            bodies[key] = body_used(
                ctx.course, ctx.course.plan.bsa_formula, ctx.policy, on=dose.given_on
            )
        body = bodies[key]
        if body.bsa_m2 is None:
            continue
        expected = dose_mg(dose.dose_mg_per_m2, body.bsa_m2, ctx.label.limits, ctx.policy.rounding)
        deviation = abs(dose.given_mg - expected) / expected * 100
        if deviation > limit:
            inputs = {
                "cycle": dose.cycle,
                "day": dose.day,
                "given_on": dose.given_on,
                "dose_mg": dose.given_mg,
                "expected_mg": expected,
                "dose_mg_per_m2": dose.dose_mg_per_m2,
                "bsa_m2": body.bsa_m2,
                "deviation_percent": deviation.quantize(Decimal("0.1")),
                "limit_percent": limit,
            }
            ctx.reason(
                "data.dose-deviation",
                "dose_deviation_percent",
                f"Cycle {dose.cycle} day {dose.day}: {dose.given_mg} mg recorded, {expected} mg "
                "calculated "
                f"({inputs['deviation_percent']}% off, > {limit}%).",
                inputs,
            )
            ctx.alert(
                "DOSE_DEVIATION",
                f"Cycle {dose.cycle} day {dose.day}: {dose.given_mg} mg vs {expected} mg.",
                inputs,
            )


def _reproduction(ctx: Context, ongoing: bool) -> None:
    patient = ctx.course.patient
    if patient.reproductive_potential:
        ctx.alert("CONTRACEPTION")
    if patient.sex == "female" and (patient.reproductive_potential or patient.breastfeeding):
        ctx.alert(
            "LACTATION",
            "Patient recorded as breastfeeding." if patient.breastfeeding else None,
            severity="warning" if patient.breastfeeding and ongoing else None,
        )


def key_dates(ctx: Context, st: CourseState, *, finished: bool) -> KeyDates:
    patient = ctx.course.patient
    last = st.last_dose_on
    contraception = breastfeeding = None
    if last is not None:
        if patient.reproductive_potential:
            key = (
                "contraception_female_months"
                if patient.sex == "female"
                else "contraception_male_months"
            )
            contraception = add_months(last, int(ctx.number(key)))
        if patient.sex == "female" and patient.reproductive_potential is not False:
            breastfeeding = add_months(last, int(ctx.number("no_breastfeeding_months")))
    return KeyDates(contraception, breastfeeding, provisional=not finished, last_dose_on=last)
