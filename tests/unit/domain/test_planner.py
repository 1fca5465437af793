"""The course planner (docs/cli.md, ``inoplan plan``).

Golden scenarios live in ``tests/unit/planner_cases/*.yaml``; each was written by hand from the
label (US PI 2.1, Table 1 and its footnote) and docs/cli.md, with the date arithmetic in
its comments. They run through ``services.courses.plan_document``, the path the CLI uses, so the
JSON shape (dates as text, numbers as numbers) is checked as well; each plan is taken as of the
day of the case's latest record (the plan is the engine's as of a date, issue 11).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from inoplan.document import parse_course
from inoplan.domain.planner import CycleAdjustment, plan_course
from inoplan.errors import InvalidInput
from inoplan.knowledge import load_label
from inoplan.services.courses import plan_document

CASES = sorted((Path(__file__).parents[1] / "planner_cases").glob("*.yaml"))
COLUMNS = (
    "cycle",
    "day",
    "scheduled",
    "earliest",
    "latest",
    "dose_mg_per_m2",
    "dose_mg",
    "status",
    "provisional",
)
US = load_label("us")


def _as_of(course: dict[str, Any]) -> date:
    """The date each case's plan is as of: the day of its latest record (or its start), so
    that every record is known and nothing is overdue yet."""
    dates = [date.fromisoformat(str(e["date"])) for e in course.get("events", [])]
    return max([date.fromisoformat(str(course["plan"]["start_date"])), *dates])


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def test_there_are_at_least_twelve_cases() -> None:
    assert len(CASES) >= 12


@pytest.mark.parametrize("case_file", CASES, ids=lambda p: p.stem)
def test_golden_plan(case_file: Path) -> None:
    case = yaml.safe_load(case_file.read_text(encoding="utf-8"))
    expect = case["expect"]
    plan = plan_document(case["course"], _as_of(case["course"]))
    doses: dict[tuple[int, int], Mapping[str, Any]] = {
        (d["cycle"], d["day"]): d for d in plan["doses"]
    }
    assert len(plan["doses"]) == expect["count"], [(d["cycle"], d["day"]) for d in plan["doses"]]
    assert plan["cycle_cap"] == expect["cycle_cap"]
    if "bsa_m2" in expect:
        assert plan["bsa_m2"] == expect["bsa_m2"]
    assert plan["discontinued_on"] == _plain(expect.get("discontinued_on"))
    # the plan lists doses in calendar order, cycle by cycle
    keys = [(d["cycle"], d["day"]) for d in plan["doses"]]
    assert keys == sorted(keys)
    for row in expect["doses"]:
        wanted = dict(zip(COLUMNS, (_plain(v) for v in row), strict=True))
        got = doses.get((wanted["cycle"], wanted["day"]))
        assert got is not None, f"no dose for cycle {wanted['cycle']} day {wanted['day']}"
        for column, value in wanted.items():
            if value == "*":
                continue
            assert got[column] == value, f"c{wanted['cycle']}d{wanted['day']} {column}"
            if isinstance(value, float | int) and not isinstance(value, bool):
                assert type(got[column]) in (int, float)  # JSON numbers, never strings


def course(events: list[dict[str, Any]], **plan: Any) -> Any:
    return parse_course(
        {
            "patient": {"id": "U-1", "birth_date": "1971-03-14", "sex": "female"},
            "plan": {"start_date": "2026-12-01", "hsct_intended": True, **plan},
            "events": [
                {"date": "2026-11-28", "type": "vitals", "height_cm": 170, "weight_kg": 70},
                *events,
            ],
        }
    )


def given(cycle: int, day: int, on: str, mg: float = 0.91) -> dict[str, Any]:
    return {"date": on, "type": "administration", "cycle": cycle, "day": day, "dose_mg": mg}


class TestPlanCourse:
    def test_a_cycle_beyond_the_cap_is_refused_naming_events(self) -> None:
        c = course(
            [
                given(1, 1, "2026-12-01", 1.46),
                given(2, 1, "2026-12-22", 1.46),
                given(3, 1, "2027-01-19", 1.46),  # the optional third pre-HSCT cycle
                given(4, 1, "2027-02-16", 1.46),  # beyond even that option
            ]
        )
        with pytest.raises(InvalidInput) as err:
            plan_course(c, US)
        assert err.value.field == "events"

    def test_the_latest_vitals_are_used(self) -> None:
        # 182 cm / 88 kg on 12-05 replaces 170/70: 2.11 m2; 0.5 x 2.11 = 1.055 -> 1.06 mg
        c = course([{"date": "2026-12-05", "type": "vitals", "height_cm": 182, "weight_kg": 88}])
        plan = plan_course(c, US)
        assert str(plan.body.bsa_m2) == "2.11"
        assert plan.body.weight_on == date(2026, 12, 5)
        assert str(plan.dose(1, 8).dose_mg) == "1.06"  # type: ignore[union-attr]

    def test_an_adjustment_reduces_the_doses_and_drops_days(self) -> None:
        # Table 4 as the engine would pass it: total -25 % (0.8 -> 0.6, 0.5 -> 0.375) and
        # two doses per cycle (days 1 and 8). 0.6 x 1.82 = 1.092 -> 1.09; 0.375 x 1.82 = 0.6825
        # -> 0.68
        from decimal import Decimal

        plan = plan_course(
            course([]), US, adjustments={2: CycleAdjustment(Decimal("0.75"), (1, 8), "test")}
        )
        cycle2 = [d for d in plan.doses if d.cycle == 2]
        assert [(d.day, str(d.dose_mg_per_m2), str(d.dose_mg)) for d in cycle2] == [
            (1, "0.600", "1.09"),
            (8, "0.375", "0.68"),
        ]

    def test_an_adjustment_cannot_exceed_the_per_dose_limit(self) -> None:
        from decimal import Decimal

        from inoplan.errors import DoseLimitExceeded

        with pytest.raises(DoseLimitExceeded):
            plan_course(course([]), US, adjustments={1: CycleAdjustment(Decimal("1.1"))})

    def test_statuses_from_the_engine_are_shown(self) -> None:
        plan = plan_course(course([given(1, 1, "2026-12-01", 1.46)]), US, statuses={(1, 8): "held"})
        assert plan.dose(1, 8).status == "held"  # type: ignore[union-attr]

    def test_undecided_transplant_is_noted(self) -> None:
        plan = plan_course(course([], hsct_intended=None), US)
        assert plan.cycle_cap == 6
        assert any("undecided" in n for n in plan.notes)

    def test_provisional_cycles_are_explained(self) -> None:
        plan = plan_course(course([]), US)
        assert any("provisional" in n for n in plan.notes)

    def test_no_vitals_note_names_what_is_missing(self) -> None:
        c = parse_course(
            {
                "patient": {"id": "U-2", "birth_date": "1971-03-14", "sex": "female"},
                "plan": {"start_date": "2026-12-01"},
                "events": [{"date": "2026-11-28", "type": "vitals", "height_cm": 170}],
            }
        )
        plan = plan_course(c, US)
        assert plan.body.bsa_m2 is None
        assert all(d.dose_mg is None for d in plan.doses)
        assert any("weight_kg" in n for n in plan.notes)

    def test_relapse_after_remission_returns_to_the_full_regimen(self) -> None:
        # label interpretation (regimen.remission_interpretation): CR before cycle 2, relapse
        # before cycle 3 -> cycle 3 day 1 is 0.8 mg/m2 again, provisional
        c = course(
            [
                given(1, 1, "2026-12-01", 1.46),
                given(1, 8, "2026-12-08"),
                given(1, 15, "2026-12-15"),
                {"date": "2026-12-20", "type": "response", "status": "CR"},
                given(2, 1, "2026-12-22"),
                given(2, 8, "2026-12-29"),
                given(2, 15, "2027-01-05"),
                {"date": "2027-01-12", "type": "response", "status": "relapse"},
            ],
            hsct_intended=False,
        )
        plan = plan_course(c, US)
        c3d1 = plan.dose(3, 1)
        assert c3d1 is not None
        assert (str(c3d1.dose_mg_per_m2), c3d1.provisional, c3d1.scheduled) == (
            "0.8",
            True,
            date(2027, 1, 19),
        )

    def test_giving_each_remaining_dose_at_its_earliest_keeps_six_days(self) -> None:
        # Day 8 given on day 11 (12-11, one day after its window): day 15 cannot be given
        # before 12-11 + 6 = 12-17. Cycle 2 day 1 (scheduled 12-22) must then be no earlier
        # than 12-17 + 6 = 12-23; the planner offers 12-22.
        plan = plan_course(course([given(1, 1, "2026-12-01", 1.46), given(1, 8, "2026-12-11")]), US)
        d15 = plan.dose(1, 15)
        c2d1 = plan.dose(2, 1)
        assert d15 is not None and c2d1 is not None
        assert d15.earliest == date(2026, 12, 17)
        assert (c2d1.earliest - d15.earliest).days >= 6

    def test_nothing_stays_planned_after_a_discontinuation(self) -> None:
        # Day 1 given 12-01, day 8 (12-08) never given, discontinued 12-12: the plan stops;
        # no dose may remain 'planned' or 'held' (docs/cli.md; "discontinue": treatment
        # must stop permanently).
        c = course(
            [
                given(1, 1, "2026-12-01", 1.46),
                {"date": "2026-12-12", "type": "discontinuation", "reason": "VOD"},
            ],
            hsct_intended=False,
        )
        plan = plan_course(c, US)
        assert plan.discontinued_on == date(2026, 12, 12)
        assert [(d.cycle, d.day) for d in plan.doses if d.status in ("planned", "held")] == []


def test_a_third_pre_transplant_cycle_given_by_the_clinician_is_planned_not_refused() -> None:
    # Transplant intended: 2 cycles, a third only as the clinician's option (US PI 2.1). Once a
    # third cycle's day 1 is recorded as given, the plan shows three cycles instead of refusing.
    from inoplan.document import parse_course

    doc: dict[str, Any] = {
        "label": "us",
        "patient": {"id": "T3", "birth_date": "1980-01-01", "sex": "male"},
        "plan": {"start_date": "2027-01-04", "hsct_intended": True},
        "events": [
            {"date": "2027-01-01", "type": "vitals", "height_cm": 170, "weight_kg": 70},
            {"date": "2027-01-04", "type": "administration", "cycle": 1, "day": 1, "dose_mg": 1.46},
            {"date": "2027-01-25", "type": "administration", "cycle": 2, "day": 1, "dose_mg": 1.46},
            {"date": "2027-02-22", "type": "administration", "cycle": 3, "day": 1, "dose_mg": 1.46},
        ],
    }
    plan = plan_course(parse_course(doc), US)
    assert plan.cycle_cap == 3
    assert {d.cycle for d in plan.doses} == {1, 2, 3}
    doc["events"].append(
        {"date": "2027-03-22", "type": "administration", "cycle": 4, "day": 1, "dose_mg": 1.46}
    )
    with pytest.raises(InvalidInput, match="cycle 4"):
        plan_course(parse_course(doc), US)
