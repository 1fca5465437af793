"""Table 1 regimen, windows, the 6-day minimum, caps and the no-response stop (US PI 2.1)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.engine.enginekit import (
    CALENDAR,
    codes,
    course_through,
    d,
    decide,
    document,
    given,
    labs,
    mg,
    reason,
    response,
    rules,
    tox,
    vitals,
)


def test_contract_shape_and_disclaimer() -> None:
    from inoplan import DISCLAIMER

    decision = decide(document(), "2027-03-01")
    for key in (
        "label",
        "label_revision",
        "engine_version",
        "as_of",
        "status",
        "next_dose",
        "modifications",
        "omitted_doses",
        "key_dates",
        "reasons",
        "alerts",
    ):
        assert key in decision
    assert decision["label"] == "us" and decision["label_revision"] == "us-2024-03"
    assert decision["disclaimer"] == DISCLAIMER
    for r in decision["reasons"]:
        assert r["rule"] and r["citation"] and r["message"] and isinstance(r["inputs"], dict)
    for a in decision["alerts"]:
        assert a["severity"] in ("critical", "warning", "info") and a["citation"]


def test_cycle1_day1_on_start_date_is_given_at_0_8() -> None:
    decision = decide(document(), "2027-03-01")
    assert decision["status"] == "give"
    nd = decision["next_dose"]
    assert (nd["cycle"], nd["day"], nd["dose_mg_per_m2"], nd["dose_mg"], nd["bsa_m2"]) == (
        1,
        1,
        0.8,
        1.46,
        1.82,
    )
    assert "regimen.cycle-1.day-1" in rules(decision)
    assert {"PREMEDICATION", "OBSERVATION"} <= set(codes(decision))


def test_day_before_start_is_wait() -> None:
    decision = decide(document(), "2027-02-28")
    assert decision["status"] == "wait"
    assert decision["next_dose"]["scheduled"] == "2027-03-01"
    assert reason(decision, "schedule.not-due")["verdict"] == "wait"


@pytest.mark.parametrize(
    ("on", "status"),
    [
        ("2027-03-06", "wait"),  # 5 days after day 1: below the 6-day minimum
        ("2027-03-07", "give"),  # exactly 6 days (and scheduled - 1)
        ("2027-03-08", "give"),
        ("2027-03-10", "give"),  # scheduled + 2: the last day of the window
        ("2027-03-11", "cannot_decide"),  # + 3, no toxicity interruption: not a plain give
    ],
)
def test_day8_window_and_six_day_minimum(on: str, status: str) -> None:
    events = [*course_through((1, 1)), labs(d(on) - timedelta(days=1))]
    decision = decide(document(events), on)
    assert decision["status"] == status
    assert decision["next_dose"]["day"] == 8
    assert decision["next_dose"]["earliest"] == "2027-03-07"
    assert decision["next_dose"]["latest"] == "2027-03-10"
    if status == "cannot_decide":
        assert "schedule.outside-window" in rules(decision)


def test_day8_after_a_late_day1_keeps_six_days() -> None:
    events = [labs("2027-03-02"), given("2027-03-03", 1, 1, 1.46), labs("2027-03-08")]
    early = decide(document(events), "2027-03-08")
    assert early["status"] == "wait"
    assert early["next_dose"]["earliest"] == "2027-03-09"
    on_time = decide(document([*events, labs("2027-03-09")]), "2027-03-09")
    assert on_time["status"] == "give"


def test_late_day8_after_toxicity_is_given_late_under_7_days() -> None:
    events = [
        *course_through((1, 1)),
        tox("2027-03-08", "nausea", 2),
        tox("2027-03-13", "nausea", 1),
        labs("2027-03-13"),
    ]
    decision = decide(document(events), "2027-03-13")  # 5 days late
    assert decision["status"] == "give"
    r = reason(decision, "interruption.delay-under-7")
    assert "Table 4" in r["citation"] and r["inputs"]["days_late"] == 5


@pytest.mark.parametrize(
    ("response_status", "per_m2"),
    [("CR", 0.5), ("CRi", 0.5), ("PR", 0.8), ("NR", 0.8), ("relapse", 0.8)],
)
def test_later_cycle_day1_depends_on_response(response_status: str, per_m2: float) -> None:
    events = [
        *course_through((1, 15)),
        response("2027-03-19", response_status),
        labs("2027-03-21"),
        vitals("2027-03-21"),
    ]
    decision = decide(document(events), "2027-03-22")
    assert decision["status"] == "give"
    assert decision["next_dose"]["dose_mg_per_m2"] == per_m2
    assert decision["next_dose"]["dose_mg"] == mg(str(per_m2))


def test_no_response_recorded_gives_the_not_in_remission_dose_and_says_so() -> None:
    events = [*course_through((1, 15)), labs("2027-03-21"), vitals("2027-03-21")]
    decision = decide(document(events), "2027-03-22")
    assert decision["status"] == "give"
    assert decision["next_dose"]["dose_mg_per_m2"] == 0.8
    assert reason(decision, "regimen.no-response-recorded")["interpretation"]


def test_cycle2_wait_on_last_day_of_21_day_cycle1_and_28_day_extension() -> None:
    events = [*course_through((1, 15)), labs("2027-03-21"), vitals("2027-03-21")]
    assert decide(document(events), "2027-03-21")["status"] == "wait"
    extended = decide(document(events, plan={"cycle1_days": 28}), "2027-03-22")
    assert extended["status"] == "wait" and extended["next_dose"]["scheduled"] == "2027-03-29"


def test_delayed_day1_uses_response_known_by_then_and_latest_is_open() -> None:
    events = [
        *course_through((1, 15)),
        response("2027-03-25", "CRi"),
        labs("2027-03-28"),
        vitals("2027-03-28"),
    ]
    decision = decide(document(events), "2027-03-29")
    assert decision["status"] == "give"
    nd = decision["next_dose"]
    assert nd["scheduled"] == "2027-03-22" and nd["latest"] is None and nd["days_late"] == 7
    assert nd["dose_mg_per_m2"] == 0.5


def test_hsct_cap_two_cycles_then_complete_with_third_cycle_option() -> None:
    events = [*course_through((2, 15)), response("2027-04-10", "CR", mrd_negative=False)]
    decision = decide(document(events, plan={"hsct_intended": True}), "2027-04-12")
    assert decision["status"] == "complete" and decision["next_dose"] is None
    assert {"MAX_CYCLES", "THIRD_CYCLE_OPTION"} <= set(codes(decision))
    assert "regimen.hsct-third-cycle-option" in rules(decision)


def test_hsct_cap_without_option_when_mrd_negative_cr() -> None:
    events = [*course_through((2, 15)), response("2027-04-10", "CR", mrd_negative=True)]
    decision = decide(document(events, plan={"hsct_intended": True}), "2027-04-12")
    assert decision["status"] == "complete"
    assert "THIRD_CYCLE_OPTION" not in codes(decision)


def test_third_cycle_given_by_choice_continues_to_its_day8() -> None:
    events = [
        *course_through((2, 15)),
        response("2027-04-10", "CRi", mrd_negative=False),
        labs("2027-04-18"),
        vitals("2027-04-18"),
        given("2027-04-19", 3, 1, 0.91),
        labs("2027-04-25"),
    ]
    decision = decide(document(events, plan={"hsct_intended": True}), "2027-04-26")
    assert decision["status"] == "give"
    assert (decision["next_dose"]["cycle"], decision["next_dose"]["day"]) == (3, 8)


def test_six_cycles_then_complete() -> None:
    events = course_through((6, 15), in_remission_from=2)
    assert decide(document(events), "2027-07-30")["status"] == "complete"
    assert decide(document(events), "2027-07-26")["status"] == "complete"  # last dose given


def test_hsct_undecided_is_planned_like_no_hsct() -> None:
    events = [
        *course_through((2, 15), in_remission_from=2),
        labs("2027-04-18"),
        vitals("2027-04-18"),
    ]
    decision = decide(document(events, plan={"hsct_intended": None}), "2027-04-19")
    assert decision["status"] == "give" and decision["next_dose"]["cycle"] == 3


@pytest.mark.parametrize(
    ("responses", "status"),
    [
        ([("2027-05-14", "NR")], "discontinue"),
        ([("2027-03-19", "PR"), ("2027-05-14", "PR")], "discontinue"),
        ([("2027-04-16", "CRi"), ("2027-05-14", "NR")], "give"),  # CRi reached in cycle 2
        ([("2027-05-14", "CR")], "give"),  # CR in cycle 3 counts ("within 3 cycles")
    ],
)
def test_no_cr_within_three_cycles_stops(responses: list[tuple[str, str]], status: str) -> None:
    events = [
        *course_through((3, 15)),
        *[response(day, s) for day, s in responses],
        labs("2027-05-16"),
        vitals("2027-05-16"),
    ]
    decision = decide(document(events), "2027-05-17")
    assert decision["status"] == status
    if status == "discontinue":
        assert "NO_RESPONSE" in codes(decision) and decision["next_dose"] is None


def test_no_assessment_after_cycle3_is_cannot_decide() -> None:
    events = [
        *course_through((3, 15)),
        response("2027-03-19", "PR"),
        labs("2027-05-16"),
        vitals("2027-05-16"),
    ]
    decision = decide(document(events), "2027-05-17")
    assert decision["status"] == "cannot_decide"
    assert "regimen.response-after-cycle-3-needed" in rules(decision)


def test_no_response_rule_not_applied_before_cycle3_is_finished() -> None:
    events = [
        *course_through((2, 15)),
        response("2027-04-10", "NR"),
        labs("2027-04-18"),
        vitals("2027-04-18"),
    ]
    assert decide(document(events), "2027-04-19")["status"] == "give"


def test_calendar_of_the_kit_is_the_standard_one() -> None:
    assert (
        CALENDAR[(2, 1)].isoformat() == "2027-03-22"
        and CALENDAR[(6, 1)].isoformat() == "2027-07-12"
    )


def test_no_response_stop_stays_after_further_cycles_were_given_anyway() -> None:
    # Found by the property test: a stop must not become "complete" once later doses are recorded.
    events = [*course_through((6, 15)), response("2027-05-14", "NR")]
    assert decide(document(events), "2027-05-17")["status"] == "discontinue"
    assert decide(document(events), "2027-08-10")["status"] == "discontinue"
