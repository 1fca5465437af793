"""Rules that end treatment (status ``discontinue``) or find it done (``complete``). Pure.

Every condition here only looks at facts dated up to a fixed point in the past, so once it
holds it holds on every later date: ``discontinue`` is final.
"""

from __future__ import annotations

from datetime import date

from inoplan.domain.course import DiscontinuationEvent, ResponseEvent
from inoplan.domain.engine.context import Context, LabReading
from inoplan.domain.engine.state import NOT_TOLERATED, CourseState
from inoplan.domain.engine.terms import CodedToxicity
from inoplan.domain.vocabulary import Allergen, AllergenMatch
from inoplan.errors import KnowledgeBaseError

__all__ = [
    "allergy_matches",
    "allergy_screen",
    "check_complete",
    "check_final",
    "severe_liver",
]


def check_final(ctx: Context, st: CourseState, *, due: bool) -> None:
    _discontinuation_event(ctx)
    _contraindications(ctx)
    _vod_and_liver(ctx)
    _infusion_reaction(ctx)
    _hematologic_persistence(ctx, st)
    _hepatic_not_recovered(ctx, st)
    _not_tolerated(ctx, st)
    _no_response(ctx, st, due=due)


def _discontinuation_event(ctx: Context) -> None:
    for event in ctx.course.of_type(DiscontinuationEvent):
        inputs: dict[str, object] = {"date": event.date, "reason": event.reason_text}
        if event.id:
            inputs["event_id"] = event.id
        ctx.reason(
            "regimen.discontinued",
            "dose-mod-general",
            f"Treatment discontinued on {event.date.isoformat()}: {event.reason_text}",
            inputs,
            verdict="discontinue",
        )
        return


def _contraindications(ctx: Context) -> None:
    history = ctx.course.patient.history
    checks: dict[str, tuple[bool, dict[str, object]]] = {
        "hypersensitivity": (
            bool(allergy_matches(ctx)),
            {"allergies": list(ctx.course.patient.allergies)},
        ),
        "prior_or_ongoing_vod": (
            history.prior_vod or any(t.category == "vod" and t.grade >= 1 for t in ctx.toxicities),
            {
                "prior_vod": history.prior_vod,
                "vod_recorded": [t.inputs() for t in ctx.toxicities if t.category == "vod"],
            },
        ),
        "serious_ongoing_liver_disease": (
            history.liver_disease == "ongoing",
            {"liver_disease": history.liver_disease},
        ),
    }
    for code, detail in ctx.label.contraindication_details.items():
        applies, inputs = checks.get(code, (False, {}))
        if not applies:
            continue
        ctx.reason(
            f"safety.contraindication.{code.replace('_', '-')}",
            (detail.citation, "contraindication"),
            f"Contraindicated: {detail.text}",
            inputs,
            interpretation=detail.interpretation or ctx.interpretation("contraindication"),
            verdict="discontinue",
        )
        ctx.alert("CONTRAINDICATION", detail.text, inputs)


def _ingredients(ctx: Context) -> dict[str, Allergen]:
    """The drug and the excipients of this label revision, as coded allergens."""
    vocabulary = ctx.vocabulary
    out: dict[str, Allergen] = {}
    for substance in ctx.label.excipients:
        allergen = vocabulary.allergen(substance)
        if allergen is None:  # a release bug, caught by tests/knowledge
            raise KnowledgeBaseError(f"{ctx.label.id}: excipient {substance!r} is not coded")
        out[allergen.code] = allergen
    return out


def allergy_screen(
    ctx: Context,
) -> tuple[list[AllergenMatch], list[AllergenMatch], list[tuple[str, tuple[Allergen, ...]]]]:
    """Recorded allergies against the vocabulary: (to an ingredient of this label, to a
    related substance only, not recognised but spelled like an ingredient)."""
    allergies = ctx.course.patient.allergies
    if not allergies:
        return [], [], []
    ingredients = _ingredients(ctx)
    vocabulary = ctx.vocabulary
    matched: list[AllergenMatch] = []
    related: list[AllergenMatch] = []
    unclear: list[tuple[str, tuple[Allergen, ...]]] = []
    for allergy in allergies:
        found = vocabulary.allergens_in(allergy)
        direct = [m for m in found if m.allergen.code in ingredients]
        if direct:
            matched.append(direct[0])
            continue
        near = [m for m in found if set(m.allergen.related_to) & set(ingredients)]
        if near:
            related.extend(near)
            continue
        if not found:
            close = tuple(
                a for a in vocabulary.allergen_suggestions(allergy) if a.code in ingredients
            )
            if close:
                unclear.append((allergy, close))
    return matched, related, unclear


def allergy_matches(ctx: Context) -> list[tuple[str, str]]:
    """(recorded allergy, drug or excipient) pairs, matched through the vocabulary."""
    return [(m.allergy, m.allergen.name) for m in allergy_screen(ctx)[0]]


def severe_liver(ctx: Context, entry: CodedToxicity) -> bool:
    """Severe liver toxicity other than VOD (Table 3), by the vocabulary's category and the
    label file's grade (interpretation of ``severe_liver_toxicity_grade``)."""
    if entry.grade < 1:
        return False
    if entry.category == "liver_severe":
        return True
    limit = int(ctx.number("severe_liver_toxicity_grade"))
    return entry.category == "liver" and (entry.grade >= limit or entry.coding.severe)


def _vod_and_liver(ctx: Context) -> None:
    vod = [t for t in ctx.toxicities if t.category == "vod" and t.grade >= 1]
    liver = [t for t in ctx.toxicities if severe_liver(ctx, t)]
    for entry in vod:
        ctx.alert(
            "VOD_CONFIRMED",
            f"{entry.event.term!r} (coded {entry.name}) grade {entry.grade} on "
            f"{entry.date.isoformat()}.",
            entry.inputs(),
        )
    for entry in liver:
        ctx.alert(
            "SEVERE_LIVER_TOXICITY",
            f"{entry.event.term!r} (coded {entry.name}) grade {entry.grade} on "
            f"{entry.date.isoformat()}.",
            entry.inputs(),
        )
    if vod:
        entry = vod[0]
        ctx.reason(
            "hepatic.vod",
            ("dose-mod-nonhematologic", "hepatotoxicity"),
            f"Hepatic veno-occlusive disease (VOD/SOS) recorded on {entry.date.isoformat()} as "
            f"{entry.event.term!r} (grade {entry.grade}): permanently discontinue.",
            entry.inputs(),
            verdict="discontinue",
        )
    elif liver:
        entry = liver[0]
        why = (
            "severe liver toxicity by definition"
            if entry.category == "liver_severe"
            else f"a liver injury term at grade {entry.grade}"
            + (" named severe" if entry.coding.severe else "")
        )
        ctx.reason(
            "hepatic.severe-liver-toxicity",
            ("dose-mod-nonhematologic", "severe_liver_toxicity_grade"),
            f"Severe liver toxicity recorded on {entry.date.isoformat()}: {entry.event.term!r} "
            f"(coded {entry.name}, {why}): permanently discontinue.",
            {**entry.inputs(), "category": entry.category},
            interpretation=ctx.interpretation("severe_liver_toxicity_grade"),
            verdict="discontinue",
        )


def _infusion_reaction(ctx: Context) -> None:
    limit = int(ctx.number("infusion_reaction_discontinue_grade"))
    for entry in ctx.toxicities:
        named_severe = entry.coding.severe and entry.grade >= 1  # "severe infusion reaction"
        if entry.category == "infusion_reaction" and (entry.grade >= limit or named_severe):
            ctx.reason(
                "infusion.severe-reaction",
                ("infusion_reaction_discontinue_grade", "infusion-reactions"),
                f"Infusion-related reaction grade {entry.grade} on {entry.date.isoformat()} "
                f"(recorded as {entry.event.term!r}; severe or life-threatening: grade >= "
                f"{limit}, or named severe): permanently discontinue.",
                {**entry.inputs(), "discontinue_grade": limit},
                interpretation=ctx.interpretation("infusion_reaction_discontinue_grade"),
                verdict="discontinue",
            )
            return


def _cycle_at(st: CourseState, day: date) -> int | None:
    cycle = None
    for c in st.plan.cycles:
        if c.started and c.start <= day:
            cycle = c.cycle
    return cycle


def _baseline(ctx: Context, analyte: str, day1: date) -> LabReading | None:
    return ctx.latest(analyte, until=day1)


def _hematologic_persistence(ctx: Context, st: CourseState) -> None:
    key = "hematologic_persistence_days"
    if not ctx.has_threshold(key) or st.first_dose_on is None:
        return  # the EU table does not carry the sentence: the rule does not exist there
    limit = int(ctx.number(key))
    thresholds = {"anc": ctx.number("anc_recovery"), "platelets": ctx.number("platelets_recovery")}
    for analyte, threshold in thresholds.items():
        runs: list[list[LabReading]] = [[]]
        for reading in ctx.readings(analyte):
            if reading.on >= st.first_dose_on and reading.value.value < threshold:
                runs[-1].append(reading)
            elif runs[-1]:
                runs.append([])
        for run in runs:
            if (
                run
                and (run[-1].on - run[0].on).days > limit
                and _persistence_fires(ctx, st, analyte, run, limit)
            ):
                return


def _persistence_fires(
    ctx: Context, st: CourseState, analyte: str, run: list[LabReading], limit: int
) -> bool:
    cycle = _cycle_at(st, run[0].on)
    start = st.cycle_start(cycle) if cycle else None
    if start is None:
        return False
    base_anc = _baseline(ctx, "anc", start)
    base_plt = _baseline(ctx, "platelets", start)
    if base_anc is None or base_plt is None:
        return False
    if base_anc.value.value < ctx.number("anc_recovery") or base_plt.value.value < ctx.number(
        "platelets_recovery"
    ):
        return False  # low-baseline row: no 28-day stop
    crossing = next(r.on for r in run if (r.on - run[0].on).days > limit)
    judged = [
        r
        for r in ctx.course.of_type(ResponseEvent)
        if r.date <= crossing and r.cytopenia_due_to_disease is not None
    ]
    name = "ANC" if analyte == "anc" else "Platelets"
    inputs = {
        "analyte": analyte,
        "first_low": run[0].inputs(),
        "latest_low": run[-1].inputs(),
        "days_low": (run[-1].on - run[0].on).days,
        "limit_days": limit,
        "cycle": cycle,
        "baseline_anc": base_anc.value.value,
        "baseline_platelets": base_plt.value.value,
    }
    if judged and judged[-1].cytopenia_due_to_disease:
        ctx.reason(
            "hematologic.persistent-low-counts-disease",
            ("hematologic_persistence_days", "hematologic_persistence"),
            f"{name} low for more than {limit} days but judged due to the leukemia "
            f"(response assessment of {judged[-1].date.isoformat()}): no stop for this reason.",
            inputs,
            interpretation=ctx.interpretation("hematologic_persistence"),
        )
        return False
    ctx.reason(
        "hematologic.persistent-low-counts",
        ("hematologic_persistence_days", "hematologic_persistence"),
        f"{name} below the recovery threshold for {inputs['days_low']} days (more than {limit}) "
        "after a normal baseline, suspected drug-related: permanently discontinue.",
        inputs,
        interpretation=ctx.interpretation("hematologic_persistence"),
        verdict="discontinue",
    )
    return True


def hepatic_condition(
    ctx: Context, bilirubin: LabReading, ast: LabReading | None, alt: LabReading | None
) -> bool:
    """Table 3: bilirubin > 1.5 x ULN AND (AST or ALT) > 2.5 x ULN, encoded literally."""
    bili_x = bilirubin.value.x_uln
    limit_bili = ctx.number("bilirubin_x_uln")
    limit_enzyme = ctx.number("ast_alt_x_uln")
    enzymes = [r.value.x_uln for r in (ast, alt) if r is not None and r.value.x_uln is not None]
    return bili_x is not None and bili_x > limit_bili and any(x > limit_enzyme for x in enzymes)


def hemolysis_on(ctx: Context, day: date) -> bool:
    """A hemolysis term's latest grade on ``day`` is 1 or more (vocabulary category)."""
    latest = {}
    for entry in ctx.toxicities:
        if entry.date <= day and entry.category == "hemolysis":
            latest[entry.code] = entry.grade
    return any(g >= 1 for g in latest.values())


def _hepatic_not_recovered(ctx: Context, st: CourseState) -> None:
    if st.first_dose_on is None or ctx.course.patient.history.gilbert_syndrome:
        return
    limit = int(ctx.number("hepatic_not_recovered_days"))
    run: list[date] = []
    for event in ctx.lab_events():
        if event.date < st.first_dose_on:
            continue
        bili = event.values.get("bilirubin")
        if bili is None:
            continue
        ast, alt = event.values.get("ast"), event.values.get("alt")
        if ast is None and alt is None:
            continue
        met = hepatic_condition(
            ctx,
            LabReading(bili, event.date),
            LabReading(ast, event.date) if ast else None,
            LabReading(alt, event.date) if alt else None,
        ) and not hemolysis_on(ctx, event.date)
        if met:
            run.append(event.date)
            if (run[-1] - run[0]).days > limit:
                ctx.reason(
                    "hepatic.not-recovered",
                    ("hepatic_not_recovered_days", "hepatic_and"),
                    f"Bilirubin > {ctx.number('bilirubin_x_uln')} x ULN with AST/ALT > "
                    f"{ctx.number('ast_alt_x_uln')} x ULN since {run[0].isoformat()} and not "
                    "recovered "
                    f"after more than {limit} days: permanently discontinue.",
                    {"first_met": run[0], "still_met": run[-1], "limit_days": limit},
                    interpretation=ctx.interpretation("hepatic_not_recovered_days"),
                    verdict="discontinue",
                )
                return
        else:
            run = []


def _not_tolerated(ctx: Context, st: CourseState) -> None:
    for step in st.steps:
        if step.code == NOT_TOLERATED:
            i = step.interruption
            ctx.reason(
                "interruption.not-tolerated",
                ("interruption_reduce_days", "interruption_target"),
                "A further dosing interruption of "
                f"{i.length_days} days (>= {ctx.number('interruption_reduce_days')}) after the 25% "
                "reduction and the change to 2 doses per cycle: not tolerated, permanently "
                "discontinue.",
                {"interruption_start": i.start, "interruption_days": i.length_days},
                interpretation=ctx.interpretation("interruption_target"),
                verdict="discontinue",
            )
            return


def _no_response(ctx: Context, st: CourseState, *, due: bool) -> None:
    after = ctx.label.caps.no_response_stop_after_cycles
    upcoming = st.next_dose
    last_given = max((d.cycle for d in st.given), default=0)
    finished = (
        (upcoming is not None and upcoming.cycle > after)
        or last_given > after
        or (upcoming is None and last_given == after)
    )
    if not finished:
        return  # only once the cycles allowed to reach CR/CRi are finished
    start = st.cycle_start(after)
    if start is None:
        return
    events = list(ctx.course.of_type(ResponseEvent))
    remission = ctx.label.regimen.remission_statuses
    assessment = next((r for r in events if r.date >= start), None)
    horizon = assessment.date if assessment is not None else ctx.on
    if any(r.status in remission for r in events if r.date <= horizon):
        return  # CR/CRi was reached within the cycles allowed
    if assessment is None:
        ctx.reason(
            "regimen.response-after-cycle-3-needed",
            ("no_response",),
            f"Cycle {after} is finished without a documented CR/CRi: a response assessment dated "
            "on "
            f"or after cycle {after} day 1 ({start.isoformat()}) is needed to decide whether to "
            "continue.",
            {"cycle": after, "cycle_start": start, "responses": [r.status for r in events]},
            interpretation=ctx.interpretation("no_response"),
            verdict="cannot_decide" if due else None,
        )
        return
    statuses = [r.status for r in events if r.date <= assessment.date]
    ctx.reason(
        "regimen.no-response-stop",
        "no_response",
        f"No CR/CRi within {after} cycles (responses up to {assessment.date.isoformat()}: "
        f"{', '.join(statuses)}): stop treatment.",
        {"responses": statuses, "assessment_date": assessment.date, "cycles": after},
        interpretation=ctx.interpretation("no_response"),
        verdict="discontinue",
    )
    ctx.alert("NO_RESPONSE", None, {"responses": statuses})


def check_complete(ctx: Context, st: CourseState) -> None:
    """``complete`` when every dose up to the cap is given or omitted."""
    if st.next_dose is not None or not st.given:
        return
    cap = st.plan.cycle_cap
    ctx.reason(
        "regimen.cycle-cap",
        "dosing-regimen",
        f"All {cap} planned cycles are done ("
        + ("transplant intended" if ctx.course.plan.hsct_intended else "no transplant intended")
        + ").",
        {
            "cycle_cap": cap,
            "hsct_intended": ctx.course.plan.hsct_intended,
            "last_dose_on": st.last_dose_on,
        },
        interpretation=ctx.label.caps.hsct_undecided_interpretation
        if ctx.course.plan.hsct_intended is None
        else None,
        verdict="complete",
    )
    ctx.alert("MAX_CYCLES", None, {"cycle_cap": cap})
    if (
        ctx.course.plan.hsct_intended
        and ctx.label.caps.hsct_third_cycle_option
        and st.extra_cycles == 0
    ):
        responses = list(ctx.course.of_type(ResponseEvent))
        latest = responses[-1] if responses else None
        reached = (
            latest is not None
            and latest.status in ctx.label.regimen.remission_statuses
            and latest.mrd_negative is True
        )
        if not reached:
            ctx.reason(
                "regimen.hsct-third-cycle-option",
                "dosing-regimen",
                "CR/CRi with MRD negativity not reached after "
                f"{cap} cycles: a third cycle may be considered (a clinician's choice, never "
                "automatic).",
                {
                    "latest_response": latest.status if latest else None,
                    "mrd_negative": latest.mrd_negative if latest else None,
                },
            )
            ctx.alert("THIRD_CYCLE_OPTION")
