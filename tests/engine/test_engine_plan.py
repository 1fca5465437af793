"""One schedule (issue 11): ``plan_document(document, on)`` and ``inoplan plan --on`` lay the plan
out of the engine's course state as of the date, so it always agrees with the decision of that
date: reductions and the two-doses step (never re-escalated), omissions, a delayed day 1, a held
dose, the cycle maximum, nothing planned after a stop."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from inoplan.errors import InvalidInput
from inoplan.services.courses import plan_document
from tests.engine.enginekit import (
    course_through,
    decide,
    document,
    given,
    labs,
    response,
    tox,
    vitals,
)
from tests.engine.test_engine_interruption import held_from_day15, reduced_course, second_long_hold


def plan(doc: dict[str, Any], on: str) -> dict[str, Any]:
    return dict(plan_document(doc, date.fromisoformat(on)))


def doses(result: dict[str, Any]) -> dict[tuple[int, int], dict[str, Any]]:
    return {(d["cycle"], d["day"]): d for d in result["doses"]}


def first_to_come(result: dict[str, Any]) -> dict[str, Any] | None:
    return next((d for d in result["doses"] if d["status"] in ("planned", "held")), None)


def same_next_dose(doc: dict[str, Any], on: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The plan and the decision of one date, with the plan's next dose equal to the decision's."""
    result, decision = plan(doc, on), decide(doc, on)
    first, nd = first_to_come(result), decision["next_dose"]
    if nd is None:
        assert first is None
    else:
        assert first is not None
        for key in ("cycle", "day", "scheduled", "earliest", "latest", "dose_mg_per_m2", "dose_mg"):
            assert first[key] == nd[key], key
    assert result["as_of"] == on and result["decision_status"] == decision["status"]
    assert result["status"] == decision["status"]
    assert result["next_dose"] == first  # the plan names its next dose: the decision's
    return result, decision


def test_the_plan_states_its_date_and_the_decision() -> None:
    result, _decision = same_next_dose(document(course_through((1, 1))), "2027-03-03")
    assert result["decision"]["status"] == "wait" and result["decision"]["reason"]
    assert result["decision"]["citation"]


def test_the_plan_carries_the_table_4_reduction_and_never_re_escalates() -> None:
    doc, on = held_from_day15(14)
    result, decision = same_next_dose(doc, on)
    assert "reduce_total_25" in decision["modifications"]
    rows = doses(result)
    assert rows[(1, 15)]["status"] == "omitted"
    for cycle in (2, 3, 4, 5, 6):
        assert rows[(cycle, 1)]["dose_mg_per_m2"] == 0.6, cycle
        assert rows[(cycle, 8)]["dose_mg_per_m2"] == 0.375, cycle
    # the plan without the engine (the bare calendar) would say 0.8: the old, second answer
    later = document([*reduced_course(), given("2027-04-05", 2, 8, 0.68)], workup_events=False)
    result, _ = same_next_dose(later, "2027-04-06")
    assert doses(result)[(3, 1)]["dose_mg_per_m2"] == 0.6


def test_the_plan_carries_two_doses_per_cycle() -> None:
    result, decision = same_next_dose(
        document(second_long_hold(), workup_events=False), "2027-04-26"
    )
    assert decision["modifications"] == ["reduce_total_25", "two_doses_per_cycle"]
    rows = doses(result)
    assert (3, 15) not in rows and (4, 15) not in rows
    assert rows[(3, 1)]["dose_mg_per_m2"] == 0.6 and rows[(3, 8)]["dose_mg_per_m2"] == 0.375


def test_a_delayed_day_1_moves_the_rest_of_its_cycle() -> None:
    events = [
        *course_through((1, 15)),
        response("2027-03-19", "CR"),
        labs("2027-03-25"),
        vitals("2027-03-25"),
    ]
    result, decision = same_next_dose(document(events), "2027-03-26")
    rows = doses(result)
    assert decision["status"] == "give" and rows[(2, 1)]["scheduled"] == "2027-03-22"
    assert rows[(2, 1)]["dose_mg_per_m2"] == 0.5  # CR before the (late) day 1
    assert rows[(2, 8)]["scheduled"] == "2027-04-02"  # 7 days after the day it is given


def test_a_held_dose_is_held_in_the_plan_and_the_calendar() -> None:
    from datetime import UTC, datetime

    from icalendar import Calendar

    from inoplan.ical import plan_to_ics

    events = [*course_through((1, 8)), labs("2027-03-14"), tox("2027-03-14", "diarrhea", 2)]
    result, decision = same_next_dose(document(events), "2027-03-15")
    assert decision["status"] == "hold"
    held = doses(result)[(1, 15)]
    assert held["status"] == "held"
    assert "held" in result["notes"][0] and "Table 3" in result["notes"][0]
    ics = Calendar.from_ical(plan_to_ics(result, generated_at=datetime(2027, 3, 15, tzinfo=UTC)))
    day15 = next(e for e in ics.walk("VEVENT") if "day 15" in str(e["summary"]))
    assert str(day15["status"]) == "TENTATIVE" and str(day15["summary"]).startswith("ON HOLD")


def test_omitted_doses_are_cancelled_in_the_calendar() -> None:
    from datetime import UTC, datetime

    from icalendar import Calendar

    from inoplan.ical import plan_to_ics

    doc, on = held_from_day15(7)
    result, _ = same_next_dose(doc, on)
    assert doses(result)[(1, 15)]["status"] == "omitted"
    ics = Calendar.from_ical(plan_to_ics(result, generated_at=datetime(2027, 3, 22, tzinfo=UTC)))
    omitted = next(e for e in ics.walk("VEVENT") if "day 15" in str(e["summary"]))
    assert str(omitted["status"]) == "CANCELLED"


@pytest.mark.parametrize(
    "stop",
    [
        tox("2027-03-10", "Venoocclusive liver disease", 2),
        tox("2027-03-10", "hepatic failure", 4),
        {"date": "2027-03-10", "type": "discontinuation", "reason": "patient's choice"},
    ],
)
def test_nothing_is_planned_after_a_discontinue_decision(stop: dict[str, Any]) -> None:
    result, decision = same_next_dose(document([*course_through((1, 8)), stop]), "2027-03-15")
    assert decision["status"] == "discontinue" and decision["next_dose"] is None
    assert all(d["status"] in ("given", "omitted") for d in result["doses"])
    assert result["discontinued_on"] == "2027-03-10"
    assert result["notes"][0].startswith("No further doses")


def test_nothing_is_planned_once_the_course_is_complete() -> None:
    doc = document(course_through((6, 15), in_remission_from=2))
    result, decision = same_next_dose(doc, "2027-08-20")
    assert decision["status"] == "complete"
    assert all(d["status"] == "given" for d in result["doses"])


def test_the_plan_never_proposes_more_than_is_left_of_a_cycle() -> None:
    events = [
        given("2027-03-01", 1, 1, 1.82),  # 1.0 mg/m2
        labs("2027-03-07"),
        given("2027-03-08", 1, 8, 0.91),
        labs("2027-03-14"),
    ]
    result, _decision = same_next_dose(document(events), "2027-03-15")
    capped = doses(result)[(1, 15)]
    assert capped["dose_mg_per_m2"] == pytest.approx(0.3)
    assert capped["limited_from_mg_per_m2"] == 0.5 and capped["status"] == "held"
    assert doses(result)[(2, 1)]["dose_mg_per_m2"] == 0.8  # a new cycle, a new maximum
    # already capped before it is due: the plan of day 9 says so too
    earlier, decision9 = same_next_dose(document(events[:3]), "2027-03-09")
    assert doses(earlier)[(1, 15)]["limited_from_mg_per_m2"] == 0.5
    assert decision9["status"] == "wait" and "DOSE_LIMIT_HOLD" in [
        a["code"] for a in decision9["alerts"]
    ]


def test_events_after_the_date_do_not_exist_for_its_plan() -> None:
    doc = document(course_through((2, 1), in_remission_from=2))
    before, _ = same_next_dose(doc, "2027-03-10")
    assert doses(before)[(1, 15)]["status"] == "planned"
    after, _ = same_next_dose(doc, "2027-03-23")
    assert doses(after)[(1, 15)]["status"] == "given"


@pytest.mark.parametrize("on", [date(9999, 12, 31), date(1, 1, 1)])
def test_a_date_outside_the_calendar_is_an_input_error(on: date) -> None:
    with pytest.raises(InvalidInput) as raised:
        plan_document(document(course_through((1, 1))), on)
    assert raised.value.field == "on"
    with pytest.raises(InvalidInput):
        decide(document(course_through((1, 1))), on.isoformat())


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    from inoplan.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    code = exit_info.value.code
    return (0 if code is None else int(code)), capsys.readouterr().out


def test_the_cli_plans_as_of_a_date_and_writes_the_held_day(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = [*course_through((1, 8)), labs("2027-03-14"), tox("2027-03-14", "diarrhea", 2)]
    source = tmp_path / "course.json"
    source.write_text(json.dumps(document(events)), encoding="utf-8")
    ics = tmp_path / "plan.ics"
    code, out = _cli(capsys, "plan", str(source), "--on", "2027-03-15", "--ics", str(ics), "--json")
    assert code == 0, out
    result = json.loads(out)
    assert result["as_of"] == "2027-03-15" and result["decision_status"] == "hold"
    assert doses(result)[(1, 15)]["status"] == "held"
    assert b"ON HOLD" in ics.read_bytes()
    code, out = _cli(capsys, "plan", str(source), "--on", "15/03/2027", "--json")
    assert code == 2 and json.loads(out)["error"]["field"] == "on"
    code, out = _cli(capsys, "plan", str(source), "--on", "9999-12-31", "--json")
    assert code == 2 and json.loads(out)["error"]["field"] == "on"


def test_the_day_before_a_dose_the_plan_and_the_decision_already_agree() -> None:
    events = course_through((1, 8))
    for offset in range(0, 10):
        on = (date(2027, 3, 8) + timedelta(days=offset)).isoformat()
        same_next_dose(document([*events, labs(on)]), on)
