"""Hypothesis: invariants of the engine over random courses.

Default run: >= 2,000 random courses (each decided on three dates) and a closed-loop simulation
in which doses are given exactly when and as the engine says. ``-m slow`` runs many more.

Invariants: no dose above 0.8 mg/m2 or 1.8 mg/m2 per cycle; never two doses < 6 days apart;
never beyond the cycle cap; no re-escalation after a reduction; ``discontinue`` is final.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from inoplan.domain.course import (
    AdministrationEvent,
    Course,
    CoursePlan,
    History,
    LabsEvent,
    LabValue,
    Patient,
    ResponseEvent,
    ToxicityEvent,
    VitalsEvent,
)
from inoplan.domain.engine import evaluate
from inoplan.domain.planner import plan_course
from inoplan.knowledge import load_label
from inoplan.knowledge.qt import load_qt_drugs

US = load_label("us")
QT = load_qt_drugs()
START = date(2027, 3, 1)
MAX_DOSE = US.limits.max_mg_per_m2_per_dose
MAX_CYCLE = US.limits.max_mg_per_m2_per_cycle
GAP = US.regimen.min_days_between_doses
REDUCED = Decimal(1) - US.threshold("reduce_total_fraction").number


def _lab(analyte: str, value: float, uln: float | None = None) -> LabValue:
    v = Decimal(str(value))
    return LabValue(analyte, v, "", v, "", uln=Decimal(str(uln)) if uln else None)


def labs_event(
    on: date,
    index: int,
    anc: float,
    platelets: float,
    bili_x: float,
    alt_x: float,
    transfused: bool = False,
) -> LabsEvent:
    values = {
        "anc": _lab("anc", anc),
        "platelets": replace(_lab("platelets", platelets), transfused=transfused),
        "bilirubin": _lab("bilirubin", round(bili_x * 1.2, 2), 1.2),
        "ast": _lab("ast", round(alt_x * 40, 1), 40),
        "alt": _lab("alt", round(alt_x * 40, 1), 40),
        "peripheral_blasts": _lab("peripheral_blasts", 1.0),
    }
    return LabsEvent(on, None, index, None, None, values=values)


def base(e: type, on: date, index: int, **fields: object) -> object:
    return e(on, None, index, None, None, **fields)


def make_course(
    events: list[object], *, hsct: bool | None, cycle1_days: int, height: int, weight: int
) -> Course:
    ordered = sorted(events, key=lambda e: (e.date, e.index))  # type: ignore[attr-defined]
    patient = Patient(
        "H-1",
        date(1980, 1, 1),
        "male",
        reproductive_potential=False,
        breastfeeding=False,
        allergies=(),
        history=History(salvage_line=1),
    )
    plan = CoursePlan(START, hsct, cycle1_days)
    vitals = VitalsEvent(
        START - timedelta(days=3), None, -1, None, None, Decimal(height), Decimal(weight)
    )
    return Course("us-2024-03", patient, plan, (vitals, *ordered))  # type: ignore[arg-type]


lab_values = st.tuples(
    st.sampled_from([0.3, 0.99, 1.0, 1.5, 3.0]),  # ANC
    st.sampled_from([20, 49, 50, 120]),  # platelets
    st.sampled_from([0.5, 1.5, 1.6, 3.5]),  # bilirubin x ULN
    st.sampled_from([0.5, 2.5, 2.6, 3.1, 6.0]),  # ALT/AST x ULN
    st.booleans(),  # platelets transfused
)
toxicity = st.tuples(
    st.sampled_from(["nausea", "diarrhea", "infusion_related_reaction", "vod", "neutropenia"]),
    st.integers(0, 4),
)


@st.composite
def random_courses(draw: st.DrawFn) -> tuple[Course, list[date]]:
    """Recorded history with random delays, skipped doses, labs, toxicities and responses."""
    hsct = draw(st.sampled_from([True, False, None]))
    cycle1_days = draw(st.sampled_from([21, 28]))
    cap = US.cycle_cap(hsct)
    events: list[object] = []
    index = 0
    on = START
    start = START
    last_day = START
    for cycle in range(1, cap + 1):
        for day in (1, 8, 15):
            action = draw(st.sampled_from(["given", "given", "given", "late", "skip", "stop"]))
            if action == "stop":
                break
            scheduled = start + timedelta(days=day - 1)
            delay = (
                draw(st.integers(1, 20))
                if action == "late"
                else draw(st.integers(-2, 2))
                if day > 1
                else 0
            )
            on = max(scheduled + timedelta(days=delay), last_day + timedelta(days=1))
            if draw(st.booleans()):
                index += 1
                events.append(
                    labs_event(
                        on - timedelta(days=draw(st.integers(0, 5))), index, *draw(lab_values)
                    )
                )
            if draw(st.integers(0, 5)) == 0:
                index += 1
                term, grade = draw(toxicity)
                events.append(
                    base(
                        ToxicityEvent,
                        on - timedelta(days=draw(st.integers(0, 9))),
                        index,
                        term=term,
                        grade=grade,
                    )
                )
            if action != "skip":
                index += 1
                mg = Decimal(str(draw(st.sampled_from([0.5, 0.9, 1.46]))))
                events.append(
                    base(AdministrationEvent, on, index, cycle=cycle, day=day, dose_mg=mg)
                )
                last_day = on
                if day == 1:
                    start = on
        else:
            index += 1
            events.append(
                base(
                    ResponseEvent,
                    start + timedelta(days=18),
                    index,
                    status=draw(st.sampled_from(["CR", "CRi", "PR", "NR"])),
                    mrd_negative=draw(st.sampled_from([True, False, None])),
                )
            )
            start = start + timedelta(days=cycle1_days if cycle == 1 else 28)
            continue
        break
    height = draw(st.integers(100, 200))
    weight = max(15, round(draw(st.integers(14, 40)) * (height / 100) ** 2))  # BMI 14-40
    course = make_course(events, hsct=hsct, cycle1_days=cycle1_days, height=height, weight=weight)
    span = max((last_day - START).days + 70, 10)
    dates = sorted(START + timedelta(days=draw(st.integers(-3, span))) for _ in range(3))
    return course, dates


def check_decision(course: Course, decision_on: date) -> object:
    decision = evaluate(course, US, decision_on, qt_drugs=QT)
    nd = decision.next_dose
    given_before = [a for a in course.of_type(AdministrationEvent) if a.date <= decision_on]
    cap = US.cycle_cap(course.plan.hsct_intended) + (
        1 if any(a.cycle > US.cycle_cap(course.plan.hsct_intended) for a in given_before) else 0
    )
    if nd is not None:
        assert nd.dose_mg_per_m2 is None or nd.dose_mg_per_m2 <= MAX_DOSE
        assert nd.cycle <= cap
        if any(
            m.code == "reduce_total_25" and m.from_cycle <= nd.cycle for m in decision.modifications
        ):
            assert nd.dose_mg_per_m2 is not None and nd.dose_mg_per_m2 <= MAX_DOSE * REDUCED
    if decision.status == "give":
        assert nd is not None
        if given_before:
            assert (decision_on - max(a.date for a in given_before)).days >= GAP
    return decision


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_courses())
def test_random_courses_keep_the_invariants(case: tuple[Course, list[date]]) -> None:
    course, dates = case
    discontinued = False
    for on in dates:
        decision = check_decision(course, on)
        if discontinued:
            assert decision.status == "discontinue", (  # type: ignore[attr-defined]
                f"discontinue must be final: {on} gives {decision.status}\n{describe(course)}"  # type: ignore[attr-defined]
            )
        discontinued = discontinued or decision.status == "discontinue"  # type: ignore[attr-defined]


def describe(course: Course) -> str:
    """A compact listing of a generated course for failure messages."""
    plan = course.plan
    rows = [f"plan {plan.start_date} hsct={plan.hsct_intended} c1={plan.cycle1_days}"]
    for e in course.events:
        detail = {
            "administration": lambda e: f"C{e.cycle}D{e.day} {e.dose_mg} mg",
            "toxicity": lambda e: f"{e.term} G{e.grade}",
            "response": lambda e: f"{e.status} mrd={e.mrd_negative}",
            "labs": lambda e: " ".join(
                f"{k}={v.value}" for k, v in e.values.items() if k != "peripheral_blasts"
            ),
        }.get(e.type, lambda e: "")(e)
        rows.append(f"  {e.date} {e.type} {detail}")
    return "\n".join(rows)


def plan_totals(course: Course) -> None:
    """Every cycle of the calendar the engine works from stays within the hard limits."""
    plan = plan_course(course, US, extra_cycles=1 if course.plan.hsct_intended else 0)
    by_cycle: dict[int, Decimal] = {}
    for dose in plan.doses:
        assert dose.dose_mg_per_m2 <= MAX_DOSE
        by_cycle[dose.cycle] = by_cycle.get(dose.cycle, Decimal(0)) + dose.dose_mg_per_m2
    assert all(total <= MAX_CYCLE for total in by_cycle.values())


def simulate(data: st.DataObject, steps: int) -> None:
    """Give doses exactly when the engine says, as it says; toxicities and labs at random."""
    hsct = data.draw(st.sampled_from([True, False, None]), label="hsct")
    events: list[object] = []
    index = 0
    on = START - timedelta(days=1)
    discontinued_on: date | None = None
    given_days: list[tuple[date, int, int, Decimal]] = []
    lowest_after_reduction: Decimal | None = None
    for _ in range(steps):
        on = on + timedelta(days=data.draw(st.integers(1, 9), label="step"))
        index += 1
        events.append(labs_event(on, index, *data.draw(lab_values, label="labs")))
        if data.draw(st.integers(0, 4), label="tox?") == 0:
            index += 1
            term, grade = data.draw(toxicity, label="tox")
            events.append(base(ToxicityEvent, on, index, term=term, grade=grade))
        if data.draw(st.integers(0, 6), label="resp?") == 0:
            index += 1
            events.append(
                base(
                    ResponseEvent,
                    on,
                    index,
                    status=data.draw(st.sampled_from(["CR", "CRi", "PR", "NR"]), label="resp"),
                )
            )
        course = make_course(events, hsct=hsct, cycle1_days=21, height=170, weight=70)
        decision = evaluate(course, US, on, qt_drugs=QT)
        if discontinued_on is not None:
            assert decision.status == "discontinue", "discontinue must be final"
            continue
        if decision.status == "discontinue":
            discontinued_on = on
            continue
        if decision.status == "complete":
            continue
        if decision.status != "give":
            continue
        nd = decision.next_dose
        assert nd is not None and nd.dose_mg_per_m2 is not None and nd.dose_mg is not None
        assert nd.dose_mg_per_m2 <= MAX_DOSE
        assert nd.cycle <= US.cycle_cap(hsct)
        if given_days:
            assert (on - given_days[-1][0]).days >= GAP
        if any(m.from_cycle <= nd.cycle for m in decision.modifications):
            lowest_after_reduction = min(lowest_after_reduction or MAX_DOSE, MAX_DOSE * REDUCED)
        if lowest_after_reduction is not None:
            assert nd.dose_mg_per_m2 <= lowest_after_reduction, (
                f"re-escalation after a reduction on {on}: {nd} {decision.modifications} "
                f"given={given_days}"
            )
        index += 1
        events.append(
            base(AdministrationEvent, on, index, cycle=nd.cycle, day=nd.day, dose_mg=nd.dose_mg)
        )
        given_days.append((on, nd.cycle, nd.day, nd.dose_mg_per_m2))
    totals: dict[int, Decimal] = {}
    for _, cycle, _, per_m2 in given_days:
        totals[cycle] = totals.get(cycle, Decimal(0)) + per_m2
    assert all(t <= MAX_CYCLE for t in totals.values())
    plan_totals(make_course(events, hsct=hsct, cycle1_days=21, height=170, weight=70))


# Shrinking a 30-step simulation takes minutes; a failure prints the full draw sequence instead.
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow], phases=NO_SHRINK
)
@given(st.data())
def test_following_the_engine_keeps_the_invariants(data: st.DataObject) -> None:
    simulate(data, steps=30)


@pytest.mark.slow
@settings(max_examples=20000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_courses())
def test_random_courses_keep_the_invariants_slow(case: tuple[Course, list[date]]) -> None:
    test_random_courses_keep_the_invariants.hypothesis.inner_test(case)  # type: ignore[attr-defined]


@pytest.mark.slow
@settings(
    max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow], phases=NO_SHRINK
)
@given(st.data())
def test_following_the_engine_keeps_the_invariants_slow(data: st.DataObject) -> None:
    simulate(data, steps=60)


EU = load_label("eu")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_courses())
def test_random_courses_under_the_eu_label(case: tuple[Course, list[date]]) -> None:
    course, dates = case
    course = replace(course, label=EU.id)
    discontinued = False
    for on in dates:
        decision = evaluate(course, EU, on, qt_drugs=QT)
        nd = decision.next_dose
        assert nd is None or nd.dose_mg_per_m2 is None or nd.dose_mg_per_m2 <= MAX_DOSE
        assert all(r.citation for r in decision.reasons)
        if discontinued:
            assert decision.status == "discontinue"
        discontinued = discontinued or decision.status == "discontinue"
