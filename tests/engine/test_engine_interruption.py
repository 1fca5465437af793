"""Table 4 (US PI 2.3; earlier wording, confidence UNCONFIRMED): length of a toxicity hold."""

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
    response,
    rules,
    tox,
    vitals,
)


def held_from_day15(days: int) -> tuple[dict[str, Any], str]:
    """C1D15 (03-15) held for diarrhea grade 3, recovered ``days`` later, decision that day."""
    recovery = date(2027, 3, 15) + timedelta(days=days)
    events = [
        *course_through((1, 8)),
        tox("2027-03-15", "diarrhea", 3),
        response("2027-03-19", "PR"),
        tox(recovery, "diarrhea", 1),
        labs(recovery - timedelta(days=1)),
        vitals(recovery - timedelta(days=1)),
    ]
    return document(events), recovery.isoformat()


def test_held_7_days_omits_the_dose() -> None:
    doc, on = held_from_day15(7)
    decision = decide(doc, on)
    assert {"cycle": 1, "day": 15} in decision["omitted_doses"]
    assert "interruption.omit-7-or-more" in rules(decision)
    assert (decision["next_dose"]["cycle"], decision["next_dose"]["day"]) == (2, 1)


def test_held_6_days_is_given_late() -> None:
    doc, on = held_from_day15(6)
    decision = decide(doc, on)
    assert decision["status"] == "give" and decision["next_dose"]["day"] == 15
    assert decision["omitted_doses"] == []
    r = reason(decision, "interruption.delay-under-7")
    assert "Table 4" in r["citation"] and "UNCONFIRMED" in r["confidence"]


def test_late_day15_pushes_the_next_cycle_six_days() -> None:
    doc, _ = held_from_day15(6)
    doc["events"].append(given("2027-03-21", 1, 15, 0.91))
    decision = decide(doc, "2027-03-22")
    assert decision["status"] == "wait"
    assert decision["next_dose"]["earliest"] == "2027-03-27"


@pytest.mark.parametrize(("days", "reduced"), [(13, False), (14, True)])
def test_held_14_days_reduces_the_next_cycle_by_25_percent(days: int, reduced: bool) -> None:
    doc, on = held_from_day15(days)
    decision = decide(doc, on)
    assert decision["status"] == "give"
    assert ("reduce_total_25" in decision["modifications"]) is reduced
    assert decision["next_dose"]["dose_mg_per_m2"] == (0.6 if reduced else 0.8)
    assert decision["next_dose"]["dose_mg"] == (1.09 if reduced else 1.46)
    if reduced:
        r = reason(decision, "interruption.reduce-total-25")
        assert "each dose" in r["interpretation"]
        detail = decision["modification_details"][0]
        assert detail["factor"] == 0.75 and detail["from_cycle"] == 2


def reduced_course() -> list[dict[str, Any]]:
    doc, _ = held_from_day15(14)
    events: list[dict[str, Any]] = doc["events"]
    return [*events, given("2027-03-29", 2, 1, 1.09)]


def test_reduced_cycle_day8_is_0_375() -> None:
    events = [*reduced_course(), labs("2027-04-04")]
    decision = decide(document(events, workup_events=False), "2027-04-05")
    assert (
        decision["next_dose"]["dose_mg_per_m2"] == 0.375
        and decision["next_dose"]["dose_mg"] == 0.68
    )


def test_never_re_escalated_in_later_cycles() -> None:
    events = [
        *reduced_course(),
        given("2027-04-05", 2, 8, 0.68),
        given("2027-04-12", 2, 15, 0.68),
        labs("2027-04-25"),
        vitals("2027-04-25"),
    ]
    decision = decide(document(events, workup_events=False), "2027-04-26")
    assert decision["status"] == "give" and decision["next_dose"]["cycle"] == 3
    assert decision["next_dose"]["dose_mg_per_m2"] == 0.6


def second_long_hold() -> list[dict[str, Any]]:
    return [
        *reduced_course(),
        given("2027-04-05", 2, 8, 0.68),
        tox("2027-04-12", "diarrhea", 3),
        tox("2027-04-26", "diarrhea", 1),
        labs("2027-04-25"),
        vitals("2027-04-25"),
    ]


def test_a_further_long_hold_gives_two_doses_per_cycle() -> None:
    decision = decide(document(second_long_hold(), workup_events=False), "2027-04-26")
    assert decision["status"] == "give"
    assert decision["modifications"] == ["reduce_total_25", "two_doses_per_cycle"]
    assert decision["next_dose"]["dose_mg_per_m2"] == 0.6  # still reduced
    assert reason(decision, "interruption.two-doses-per-cycle")["interpretation"]


def test_two_dose_cycles_have_no_day15() -> None:
    events = [
        *second_long_hold(),
        given("2027-04-26", 3, 1, 1.09),
        labs("2027-05-02"),
        given("2027-05-03", 3, 8, 0.68),
    ]
    decision = decide(document(events, workup_events=False), "2027-05-10")
    assert decision["status"] == "wait"
    assert (decision["next_dose"]["cycle"], decision["next_dose"]["day"]) == (4, 1)


def test_a_third_long_hold_is_not_tolerated() -> None:
    events = [
        *second_long_hold(),
        given("2027-04-26", 3, 1, 1.09),
        tox("2027-05-03", "diarrhea", 3),
        tox("2027-05-24", "diarrhea", 1),
        labs("2027-05-23"),
        vitals("2027-05-23"),
    ]
    decision = decide(document(events, workup_events=False), "2027-05-24")
    assert decision["status"] == "discontinue"
    assert "interruption.not-tolerated" in rules(decision)


@pytest.mark.parametrize(("days", "alert"), [(28, False), (29, True)])
def test_over_28_days_consider_discontinuation(days: int, alert: bool) -> None:
    start = date(2027, 3, 15)
    on = start + timedelta(days=days)
    events = [
        *course_through((1, 8)),
        tox(start, "diarrhea", 3),
        labs(on - timedelta(days=1)),
        vitals(on - timedelta(days=1)),
    ]
    decision = decide(document(events), on)
    assert decision["status"] == "hold"
    assert ("CONSIDER_DISCONTINUATION" in codes(decision)) is alert


def delayed_cycle2(days: int) -> tuple[dict[str, Any], date]:
    """Cycle 1 given in full; the prescriber moves cycle 2 day 1 (due 2027-03-22, the end of the
    21-day cycle 1) ``days`` later, on the day it was due; the decision is taken that day."""
    due = date(2027, 3, 22)
    events = [
        *course_through((1, 15)),
        labs(due - timedelta(days=1)),
        vitals(due - timedelta(days=1)),
        {
            "type": "reschedule",
            "date": due.isoformat(),
            "cycle": 2,
            "day": 1,
            "to": (due + timedelta(days=days)).isoformat(),
            "reason": "patient travelling",
        },
    ]
    return document(events), due


@pytest.mark.parametrize(
    ("days", "info", "alert"),
    [(13, False, False), (14, True, False), (28, True, False), (29, False, True)],
)
def test_day1_planned_late_warns_before_the_date(days: int, info: bool, alert: bool) -> None:
    """Review L3: a day 1 moved past Table 4's limits is flagged when it is planned, not only
    once the interruption has lasted that long (13/14 days: the reduction; 28/29: the limit)."""
    doc, due = delayed_cycle2(days)
    decision = decide(doc, due)
    assert ("interruption.planned-14-or-more" in rules(decision)) is info
    assert ("DELAY_OVER_LIMIT" in codes(decision)) is alert
    assert "CONSIDER_DISCONTINUATION" not in codes(decision)
    if alert:
        found = reason(decision, "interruption.planned-over-28-days")
        assert found["inputs"]["interruption_days"] == days
        assert found["inputs"]["planned"] == (due + timedelta(days=days)).isoformat()
        assert found["inputs"]["due"] == due.isoformat()
        assert "Table 4" in found["citation"]
    # the decision on the planned date itself: the interruption is no longer only planned
    later = decide(doc, due + timedelta(days=days))
    assert "DELAY_OVER_LIMIT" not in codes(later)


def test_day1_delay_alert_gives_way_to_the_ongoing_alert() -> None:
    """Once the interruption itself is over 28 days, CONSIDER_DISCONTINUATION alone is raised."""
    doc, due = delayed_cycle2(40)
    decision = decide(doc, due + timedelta(days=29))
    assert "CONSIDER_DISCONTINUATION" in codes(decision)
    assert "DELAY_OVER_LIMIT" not in codes(decision)
