"""Hard limits on what was recorded (issue 11): mg/m2 actually given (mg / BSA of that day)
against the per-dose and per-cycle maxima, doses fewer than 6 days apart, deliberate overrides;
and no dose proposed above what is left of a cycle's maximum. Standard body 170 cm / 70 kg:
1.82 m2; 0.8 mg/m2 = 1.456 -> 1.46 mg; the tolerance is half a 0.01 mg step (0.005 mg)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.enginekit import (
    course_through,
    decide,
    document,
    given,
    labs,
    reason,
    response,
    rules,
    tox,
    vitals,
)


def critical(decision: dict[str, Any]) -> set[str]:
    return {a["code"] for a in decision["alerts"] if a["severity"] == "critical"}


@pytest.mark.parametrize(
    ("dose_mg", "above"),
    [
        (1.46, False),  # 0.8022 mg/m2: 0.8 x 1.82 rounded to the 0.01 mg step
        (1.461, False),  # exactly 0.8 x 1.82 + 0.005 mg: at the tolerance
        (1.462, True),  # just above it
        (1.47, True),  # 0.8077 mg/m2
        (1.82, True),  # 1.0 mg/m2 (issue 11)
    ],
)
def test_a_recorded_dose_above_the_per_dose_maximum_is_critical(
    dose_mg: float, above: bool
) -> None:
    doc = document([given("2027-03-01", 1, 1, dose_mg), labs("2027-03-07")])
    decision = decide(doc, "2027-03-08")
    assert ("DOSE_ABOVE_MAX" in critical(decision)) is above
    if above:
        r = reason(decision, "limits.recorded-dose-above-max")
        assert "Table 1" in r["citation"] and r["interpretation"]
        assert r["inputs"]["bsa_m2"] == 1.82 and r["inputs"]["dose_mg"] == dose_mg
        assert r["inputs"]["max_mg_per_m2_per_dose"] == 0.8
    # the alert stays on every later decision of the course
    later = decide(
        document([given("2027-03-01", 1, 1, dose_mg), *course_through((1, 8))[1:]]), "2027-04-30"
    )
    assert ("DOSE_ABOVE_MAX" in critical(later)) is above


def test_1_mg_per_m2_on_day_1_allows_day_8_and_caps_day_15() -> None:
    """1.0 + 0.5 = 1.5 mg/m2 leaves 0.3: day 15 (0.5) is held and never proposed above 0.3."""
    events = [given("2027-03-01", 1, 1, 1.82), labs("2027-03-07")]
    day8 = decide(document(events), "2027-03-08")
    assert day8["status"] == "give" and day8["next_dose"]["dose_mg_per_m2"] == 0.5
    assert "DOSE_ABOVE_MAX" in critical(day8)
    events += [given("2027-03-08", 1, 8, 0.91), labs("2027-03-14")]
    day15 = decide(document(events), "2027-03-15")
    assert day15["status"] == "hold"
    nd = day15["next_dose"]
    assert nd["dose_mg_per_m2"] == pytest.approx(0.3) and nd["dose_mg"] == 0.54
    assert nd["limited_from_mg_per_m2"] == 0.5 and nd["status"] == "held"
    r = reason(day15, "limits.cycle-allowance")
    assert r["verdict"] == "hold" and r["inputs"]["remaining_mg_per_m2"] == pytest.approx(0.3)
    assert "DOSE_LIMIT_HOLD" in critical(day15)
    # the next cycle has its own maximum again
    nxt = decide(
        document([*events, labs("2027-03-21"), response("2027-03-19", "PR")]), "2027-03-22"
    )
    assert nxt["next_dose"]["cycle"] == 2 and nxt["next_dose"]["dose_mg_per_m2"] == 0.8


def test_ten_times_the_dose_of_a_child_leaves_nothing_of_the_cycle() -> None:
    """110 cm / 22 kg: sqrt(2420 / 3600) = 0.82 m2; 0.8 mg/m2 = 0.66 mg; 6.6 mg recorded."""
    doc = document(
        [given("2027-03-01", 1, 1, 6.6), labs("2027-03-07")],
        patient={"birth_date": "2019-05-01"},
    )
    doc["events"][0] = vitals("2027-02-26", 110, 22)
    decision = decide(doc, "2027-03-08")
    assert decision["status"] == "hold"
    assert decision["next_dose"]["dose_mg_per_m2"] == 0 and decision["next_dose"]["dose_mg"] == 0
    assert {"DOSE_ABOVE_MAX", "CYCLE_TOTAL_ABOVE_MAX", "DOSE_LIMIT_HOLD"} <= critical(decision)
    total = reason(decision, "limits.recorded-cycle-above-max")
    assert total["inputs"]["total_mg_per_m2_given"] == pytest.approx(8.049, abs=0.001)


def test_doses_each_within_its_maximum_can_still_take_the_cycle_above() -> None:
    """Day 8 recorded at 1.46 mg (0.8022 mg/m2, within the per-dose maximum): 0.8022 + 0.8022
    + 0.55 / 1.82 (0.3022) = 1.907 mg/m2 > 1.8: the cycle is above, no single dose is."""
    events = [
        given("2027-03-01", 1, 1, 1.46),
        labs("2027-03-07"),
        given("2027-03-08", 1, 8, 1.46),
        labs("2027-03-14"),
        given("2027-03-15", 1, 15, 0.55),
    ]
    decision = decide(document(events), "2027-03-16")
    assert "CYCLE_TOTAL_ABOVE_MAX" in critical(decision)
    assert "DOSE_ABOVE_MAX" not in critical(decision)


@pytest.mark.parametrize(("day15_mg", "above"), [(0.92, False), (0.93, True)])
def test_a_cycle_total_just_below_and_above_the_maximum(day15_mg: float, above: bool) -> None:
    """1.46 + 0.91 + x at 1.82 m2: the maximum 1.8 mg/m2 plus 3 x 0.005 mg is 3.291 mg in
    total, so x may be up to 0.921 mg (0.92 within, 0.93 above)."""
    events = [
        given("2027-03-01", 1, 1, 1.46),
        labs("2027-03-07"),
        given("2027-03-08", 1, 8, 0.91),
        labs("2027-03-14"),
        given("2027-03-15", 1, 15, day15_mg),
    ]
    decision = decide(document(events), "2027-03-16")
    assert ("CYCLE_TOTAL_ABOVE_MAX" in critical(decision)) is above


@pytest.mark.parametrize(("days", "short"), [(5, True), (6, False)])
def test_two_doses_fewer_than_6_days_apart_are_critical(days: int, short: bool) -> None:
    from datetime import date, timedelta

    second = date(2027, 3, 1) + timedelta(days=days)
    doc = document(
        [
            given("2027-03-01", 1, 1, 1.46),
            labs(second - timedelta(days=1)),
            given(second, 1, 8, 0.91),
        ]
    )
    decision = decide(doc, "2027-03-13")
    assert ("DOSE_INTERVAL_SHORT" in critical(decision)) is short
    if short:
        r = reason(decision, "limits.recorded-interval-short")
        assert r["inputs"]["days_apart"] == days and r["inputs"]["min_days_between_doses"] == 6
        assert "Table 1" in r["citation"]
    # the next dose still keeps 6 days after the last one recorded
    assert decision["next_dose"]["earliest"] >= str(second + timedelta(days=6))


def test_an_override_leaves_a_critical_alert_on_every_later_decision() -> None:
    events = [
        given("2027-03-01", 1, 1, 1.46),
        labs("2027-03-07"),
        tox("2027-03-07", "nausea", 2),
        {
            **given("2027-03-08", 1, 8, 0.91),
            "override_reason": "given despite grade 2 nausea: prescriber's decision",
        },
    ]
    for on in ("2027-03-08", "2027-03-10", "2027-05-01"):
        decision = decide(document(events), on)
        assert "DOSE_OVERRIDE" in critical(decision), on
        r = reason(decision, "limits.dose-override")
        assert "prescriber's decision" in r["message"]
        assert r["inputs"]["override_reason"].startswith("given despite")


def test_a_dose_recorded_after_a_stop_is_critical() -> None:
    events = [
        *course_through((1, 8)),
        tox("2027-03-10", "VOD", 3),
        labs("2027-03-14"),
        given("2027-03-15", 1, 15, 0.91),
    ]
    decision = decide(document(events), "2027-03-16")
    assert decision["status"] == "discontinue"
    assert {"DOSE_AFTER_STOP", "DISCONTINUED", "VOD_CONFIRMED"} <= critical(decision)


@pytest.mark.parametrize(
    "cause",
    [
        {"date": "2027-03-10", "type": "discontinuation", "reason": "patient's choice"},
        tox("2027-03-10", "infusion related reaction", 4),
        tox("2027-03-10", "hepatic failure", 3),
    ],
)
def test_every_discontinue_decision_raises_a_critical_alert(cause: dict[str, Any]) -> None:
    decision = decide(document([*course_through((1, 8)), cause]), "2027-03-15")
    assert decision["status"] == "discontinue"
    assert "DISCONTINUED" in critical(decision)
    alert = next(a for a in decision["alerts"] if a["code"] == "DISCONTINUED")
    assert alert["citation"] and alert["message"]


def test_a_recorded_dose_without_height_and_weight_cannot_be_checked() -> None:
    doc = document([given("2027-03-01", 1, 1, 1.46), labs("2027-03-07")], workup_events=False)
    doc["events"].insert(0, labs("2027-02-28"))
    decision = decide(doc, "2027-03-08")
    assert decision["status"] == "cannot_decide"
    assert "limits.recorded-dose-unchecked" in rules(decision)
    assert "limits.cycle-total-unknown" in rules(decision)


# -- a response recorded on or before the day a dose is due applies to it ------------------
@pytest.mark.parametrize(
    ("response_on", "mg_per_m2"),
    [("2027-03-21", 0.5), ("2027-03-22", 0.5), ("2027-03-23", 0.8)],
)
def test_a_response_on_the_day_day_1_is_due_applies_to_it(
    response_on: str, mg_per_m2: float
) -> None:
    events = [
        *course_through((1, 15)),
        labs("2027-03-21"),
        vitals("2027-03-21"),
        response(response_on, "CR"),
    ]
    decision = decide(document(events), "2027-03-22")
    assert decision["next_dose"]["cycle"] == 2 and decision["next_dose"]["day"] == 1
    if response_on <= "2027-03-22":
        assert decision["status"] == "give"
        assert decision["next_dose"]["dose_mg_per_m2"] == mg_per_m2
    else:  # recorded the day after: not known on 03-22
        assert decision["next_dose"]["dose_mg_per_m2"] == mg_per_m2
