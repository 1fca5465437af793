"""Data sufficiency (docs/course-document.md 'Freshness'), dose deviation, and status precedence."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from tests.engine.enginekit import (
    codes,
    course_through,
    decide,
    document,
    given,
    labs,
    reason,
    rules,
    tox,
    vitals,
)


@pytest.mark.parametrize(("age_days", "status"), [(0, "give"), (3, "give"), (4, "cannot_decide")])
def test_lab_freshness_inclusive_three_days(age_days: int, status: str) -> None:
    on = date(2027, 3, 1)
    doc = document([vitals("2027-02-26"), labs(on - timedelta(days=age_days))], workup_events=False)
    decision = decide(doc, on)
    assert decision["status"] == status
    if status == "cannot_decide":
        r = reason(decision, "data.stale-labs")
        assert set(r["inputs"]["needed"]) >= {"anc", "platelets", "bilirubin"}
        assert "STALE_LABS" in codes(decision)


def test_stale_labs_for_day8_need_only_liver_tests() -> None:
    events = [*course_through((1, 1))]
    decision = decide(document(events), "2027-03-08")  # last labs 02-28
    assert decision["status"] == "cannot_decide"
    assert sorted(reason(decision, "data.stale-labs")["inputs"]["needed"]) == [
        "alt",
        "ast",
        "bilirubin",
    ]


def test_a_lab_never_recorded_is_missing_data() -> None:
    doc = document([vitals("2027-02-26"), labs("2027-02-28", alt=None)], workup_events=False)
    decision = decide(doc, "2027-03-01")
    assert decision["status"] == "cannot_decide"
    assert {"STALE_LABS", "MISSING_DATA"} <= set(codes(decision))


def test_site_policy_freshness_override() -> None:
    from inoplan.domain.policy import SitePolicy

    doc = document([vitals("2027-02-26"), labs("2027-02-25")], workup_events=False)
    assert decide(doc, "2027-03-01")["status"] == "cannot_decide"
    assert decide(doc, "2027-03-01", policy=SitePolicy(lab_max_age_days=4))["status"] == "give"


@pytest.mark.parametrize(
    ("vitals_event", "missing"),
    [(None, ["height_cm", "weight_kg"]), ({"height_cm": 170, "weight_kg": None}, ["weight_kg"])],
)
def test_missing_height_or_weight(vitals_event: dict[str, Any] | None, missing: list[str]) -> None:
    events = [labs("2027-02-28")]
    if vitals_event:
        events.append(vitals("2027-02-26", **vitals_event))
    decision = decide(document(events, workup_events=False), "2027-03-01")
    assert decision["status"] == "cannot_decide"
    assert reason(decision, "data.missing-height-weight")["inputs"]["missing"] == missing
    assert decision["next_dose"]["dose_mg"] is None  # never a default dose
    assert "MISSING_DATA" in codes(decision)


@pytest.mark.parametrize(("age", "warned"), [(28, False), (29, True)])
def test_stale_weight_warns_but_does_not_block(age: int, warned: bool) -> None:
    on = date(2027, 3, 1)
    doc = document([vitals(on - timedelta(days=age)), labs("2027-02-28")], workup_events=False)
    decision = decide(doc, on)
    assert decision["status"] == "give"
    assert ("STALE_WEIGHT" in codes(decision)) is warned


@pytest.mark.parametrize(
    ("dose_mg", "alert"),
    [(1.47, False), (1.53, False), (1.54, True), (1.39, False), (1.38, True)],
)
def test_dose_deviation_above_5_percent(dose_mg: float, alert: bool) -> None:
    # 0.8 mg/m2 x 1.82 m2 = 1.46 mg; 5 % of 1.46 = 0.073 mg
    events = [given("2027-03-01", 1, 1, dose_mg)]
    decision = decide(document(events), "2027-03-02")
    assert ("DOSE_DEVIATION" in codes(decision)) is alert
    if alert:
        assert reason(decision, "data.dose-deviation")["inputs"]["expected_mg"] == 1.46


def test_supersede_corrects_a_lab_value() -> None:
    events = [
        *course_through((1, 15)),
        vitals("2027-03-21"),
        {**labs("2027-03-21", anc=0.3), "id": "l1"},
        {**labs("2027-03-21", anc=1.3), "supersedes": "l1", "reason": "typo"},
    ]
    assert decide(document(events), "2027-03-22")["status"] == "give"


# -- precedence (docs/decision.md) ------------------------------------------------------
def test_discontinue_beats_complete() -> None:
    events = [*course_through((2, 15), in_remission_from=2), tox("2027-04-10", "vod", 3)]
    assert (
        decide(document(events, plan={"hsct_intended": True}), "2027-04-12")["status"]
        == "discontinue"
    )


def test_discontinue_beats_cannot_decide_and_hold() -> None:
    events = [
        *course_through((1, 1)),
        tox("2027-03-05", "infusion_related_reaction", 3),
        tox("2027-03-05", "nausea", 3),
    ]
    decision = decide(document(events), "2027-03-08")  # labs stale too
    assert decision["status"] == "discontinue" and decision["next_dose"] is None
    assert decision["reasons"][0]["rule"] == "infusion.severe-reaction"


def test_complete_beats_hold() -> None:
    events = [*course_through((2, 15), in_remission_from=2), tox("2027-04-10", "nausea", 3)]
    assert (
        decide(document(events, plan={"hsct_intended": True}), "2027-04-12")["status"] == "complete"
    )


def test_hold_beats_cannot_decide() -> None:
    events = [*course_through((1, 1)), tox("2027-03-05", "nausea", 3)]
    decision = decide(document(events), "2027-03-08")  # labs stale (02-28) and nausea grade 3
    assert decision["status"] == "hold"
    assert "data.stale-labs" in rules(decision)


def test_cannot_decide_beats_give_and_wait_is_not_blocked() -> None:
    assert (
        decide(document([vitals("2027-02-26")], workup_events=False), "2027-03-01")["status"]
        == "cannot_decide"
    )
    assert (
        decide(document([vitals("2027-02-26")], workup_events=False), "2027-02-27")["status"]
        == "wait"
    )


def test_discontinuation_event_is_final() -> None:
    events = [
        *course_through((1, 8)),
        {"date": "2027-03-10", "type": "discontinuation", "reason": "patient choice"},
        labs("2027-03-14"),
    ]
    for on in ("2027-03-10", "2027-03-15", "2027-04-30"):
        assert decide(document(events), on)["status"] == "discontinue"
    assert decide(document(events), "2027-03-09")["status"] == "wait"


def test_events_after_the_decision_date_are_ignored() -> None:
    events = [*course_through((1, 1)), tox("2027-03-20", "vod", 4), labs("2027-03-07")]
    assert decide(document(events), "2027-03-08")["status"] == "give"


def test_same_input_same_output() -> None:
    doc = document(course_through((2, 8), in_remission_from=2))
    assert decide(doc, "2027-04-01") == decide(doc, "2027-04-01")


@pytest.mark.parametrize(
    ("dose_mg", "alert"), [(1.47, False), (1.33, False), (1.48, True), (1.32, True)]
)
def test_dose_deviation_exactly_5_percent_is_not_flagged(dose_mg: float, alert: bool) -> None:
    # 175 cm / 63 kg -> Mosteller exactly 1.75 m2; 0.8 x 1.75 = 1.40 mg; 5 % = 0.07 mg exactly
    doc = document([given("2027-03-01", 1, 1, dose_mg)], workup_events=False)
    doc["events"] += [vitals("2027-02-26", height_cm=175, weight_kg=63), labs("2027-02-28")]
    assert ("DOSE_DEVIATION" in codes(decide(doc, "2027-03-02"))) is alert
