"""A dose recorded above the engine's plan for its day needs an override (review H3: the
prescriber's ``dose_change``, the label's Table 4, the cap at the cycle maximum; one source, the
engine's plan), and a dose recorded outside the treatment-day workflow needs one whatever its
size (review H2). ``services.guards.dose_override_reasons`` through ``records.append_event``.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import pytest
import yaml

from inoplan.errors import Forbidden, OutsideWorkflow, OverrideRequired
from inoplan.services import workflow
from inoplan.services.records import (
    append_event,
    course_audit,
    course_document,
    course_version,
    create_course,
)

from .conftest import SECOND_NURSE, TODAY, password_for

NOW = datetime(TODAY.year, TODAY.month, TODAY.day, 10, 0, tzinfo=UTC)
WORKFLOW = "was not given through the treatment-day workflow"
PLANNED = "the engine's plan gives"
LOWERED = {
    "id": "dc1",
    "date": TODAY.isoformat(),
    "type": "dose_change",
    "cycle": 1,
    "day": 8,
    "dose_mg_per_m2": 0.25,
    "reason": "grade 2 toxicity",
}


def _add(db: Any, course_id: int, event: dict[str, Any], role: str, now: datetime = NOW) -> Any:
    return append_event(
        db,
        course_id,
        event,
        expected_version=course_version(db, course_id),
        actor=role,
        role=role,
        now=now,
    )


def _dose(mg: float, **extra: Any) -> dict[str, Any]:
    return {
        "date": TODAY.isoformat(),
        "type": "administration",
        "cycle": 1,
        "day": 8,
        "dose_mg": mg,
        "time": "09:00",
        **extra,
    }


def _given(db: Any, course_id: int, cycle: int = 1, day: int = 8) -> list[dict[str, Any]]:
    events = course_document(db, course_id)["events"]
    return [
        e
        for e in events
        if e.get("type") == "administration" and (e.get("cycle"), e.get("day")) == (cycle, day)
    ]


def _refused(db: Any, course_id: int, event: dict[str, Any], now: datetime = NOW) -> Any:
    """A prescriber without a reason: OutsideWorkflow (409), ``because`` lists every reason."""
    version = course_version(db, course_id)
    with pytest.raises(OutsideWorkflow) as caught:
        _add(db, course_id, event, "prescriber", now)
    assert course_version(db, course_id) == version  # nothing stored
    assert WORKFLOW in caught.value.because[0]
    return caught.value


# -- the prescriber's dose change ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("mg", "above"), [(0.45, False), (0.46, False), (0.47, True), (0.91, True)]
)
def test_a_lowered_day_bounds_a_direct_dose_below_at_and_above(
    app: Any, course_id: int, mg: float, above: bool
) -> None:
    """Planned 0.25 mg/m2 = 0.46 mg at BSA 1.82 m2 (the label's 0.5 mg/m2 gives 0.91 mg)."""
    db = app.state.database
    _add(db, course_id, LOWERED, "prescriber")
    refused = _refused(db, course_id, _dose(mg))
    planned = [r for r in refused.because if PLANNED in r]
    assert bool(planned) == above, refused.because
    if above:
        assert f"{mg} mg recorded" in planned[0] and "0.46 mg = 0.25 mg/m²" in planned[0]
        assert "the prescriber lowered it to 0.25 mg/m² (grade 2 toxicity" in planned[0]
    assert _given(db, course_id) == []


def test_a_nurse_records_no_dose_directly(app: Any, course_id: int) -> None:
    db = app.state.database
    _add(db, course_id, LOWERED, "prescriber")
    for mg in (0.46, 0.91):
        with pytest.raises(Forbidden, match="give step"):
            _add(db, course_id, _dose(mg), "nurse")
    assert _given(db, course_id) == []


def test_a_prescriber_may_override_with_a_reason_and_a_critical_alert_stays(
    app: Any, course_id: int
) -> None:
    from inoplan.services.courses import decide_document

    db = app.state.database
    _add(db, course_id, LOWERED, "prescriber")
    _add(db, course_id, _dose(0.91, override_reason="toxicity resolved, full dose"), "prescriber")
    document = course_document(db, course_id)
    decision = decide_document(
        {k: v for k, v in document.items() if k not in ("id", "version")}, TODAY
    )
    assert "DOSE_OVERRIDE" in [a["code"] for a in decision["alerts"]]
    after = course_audit(db, course_id)[-1].after
    assert after is not None
    override = after["override"]
    assert WORKFLOW in override["because"][0]
    assert any(PLANNED in r and "0.46 mg" in r for r in override["because"])


def test_the_give_step_records_the_lowered_dose_without_an_override(
    app: Any, course_id: int
) -> None:
    """The workflow's own give step (records.WorkflowGive) is the one writer that needs none."""
    from datetime import date

    db = app.state.database
    _add(db, course_id, LOWERED, "prescriber")
    released = workflow.release(db, course_id, 1, 8, actor="prescriber", role="prescriber", now=NOW)
    mg = str(released.steps["released"]["dose_mg"])
    assert mg == "0.46"
    workflow.verify(db, course_id, 1, 8, dose_mg=mg, actor="pharmacist", role="pharmacist", now=NOW)
    workflow.prepare(
        db,
        course_id,
        1,
        8,
        lot="LOT-A12",
        expiry=date(2027, 6, 30),
        second_signer=workflow.SecondSigner("admin", password_for("admin")),
        throttle=db.throttle,
        actor="pharmacist",
        role="pharmacist",
        now=NOW,
    )
    given = workflow.give(
        db,
        course_id,
        1,
        8,
        started_at=time(10, 5),
        ended_at=time(11, 5),
        premedication=True,
        observation_end=time(12, 10),
        second_signer=workflow.SecondSigner(SECOND_NURSE, password_for(SECOND_NURSE)),
        throttle=db.throttle,
        actor="nurse",
        role="nurse",
        now=NOW,
    )
    assert given.state == "given"
    [dose] = _given(db, course_id)
    assert dose["dose_mg"] == 0.46 and "override_reason" not in dose
    last = course_audit(db, course_id)[-1]
    assert last.action == "event.administration" and last.after is not None
    assert "outside_workflow" not in last.after


def test_a_day_on_its_way_through_the_workflow_is_not_recorded_beside_it(
    app: Any, course_id: int
) -> None:
    from inoplan.errors import Conflict

    db = app.state.database
    workflow.release(db, course_id, 1, 8, actor="prescriber", role="prescriber", now=NOW)
    with pytest.raises(Conflict, match="is released in the treatment-day workflow"):
        _add(db, course_id, _dose(0.91, override_reason="given at the ward"), "prescriber")
    assert _given(db, course_id) == []


# -- the label's Table 4 (tests/golden/cases/int-held-14-days-reduce-next-cycle.yaml) ------------

GOLDEN = Path(__file__).parents[1] / "golden" / "cases" / "int-held-14-days-reduce-next-cycle.yaml"
#: The day the golden case decides: cycle 2 day 1 due at 0.6 mg/m2 (0.8 x 0.75) = 1.09 mg.
TABLE4_NOW = datetime(2027, 3, 29, 10, 0, tzinfo=UTC)


def _table4_course(db: Any, *extra: dict[str, Any]) -> int:
    case = yaml.safe_load(GOLDEN.read_text(encoding="utf-8"))
    case.pop("expect")
    document = copy.deepcopy(case)
    document["events"] = [*document["events"], *extra]
    return create_course(db, document, actor="prescriber", role="prescriber", now=TABLE4_NOW).id


def _c2d1(mg: float, **extra: Any) -> dict[str, Any]:
    return {
        "date": "2027-03-29",
        "type": "administration",
        "cycle": 2,
        "day": 1,
        "dose_mg": mg,
        "time": "09:00",
        **extra,
    }


@pytest.mark.parametrize(("mg", "above"), [(1.08, False), (1.09, False), (1.1, True), (1.46, True)])
def test_a_day_lowered_by_table_4_bounds_a_direct_dose(app: Any, mg: float, above: bool) -> None:
    """Before review H3 only the per-dose maximum (1.46 mg) bounded this day."""
    db = app.state.database
    course = _table4_course(db)
    refused = _refused(db, course, _c2d1(mg), TABLE4_NOW)
    planned = [r for r in refused.because if PLANNED in r]
    assert bool(planned) == above, refused.because
    if above:
        assert f"{mg} mg recorded" in planned[0] and "1.09 mg = 0.6 mg/m²" in planned[0]
        assert "each dose reduced by 25 %" in planned[0] and "Table 4" in planned[0]
    assert not any("per dose" in r for r in refused.because)
    assert _given(db, course, 2, 1) == []


@pytest.mark.parametrize(("mg", "accepted"), [(1.09, True), (1.1, False)])
def test_a_correction_of_a_table_4_day_is_bounded_by_the_plan(
    app: Any, mg: float, accepted: bool
) -> None:
    """A correction of the same day keeps the correction rules, judged against the plan without
    the dose it corrects: the label's Table 4 dose, 1.09 mg. Its start time is a fact of the dose
    given: a prescriber's correction (review H2/H3), a nurse's is refused."""
    db = app.state.database
    course = _table4_course(db, _c2d1(1.09, id="c2d1"))
    fix = _c2d1(mg, id="c2d1-fix", supersedes="c2d1", reason="start time", time="09:40")
    with pytest.raises(Forbidden, match=r"dose\.override"):
        _add(db, course, fix, "nurse", TABLE4_NOW)
    if accepted:
        _add(db, course, fix, "prescriber", TABLE4_NOW)
        assert [e["time"] for e in _given(db, course, 2, 1)] == ["09:00", "09:40"]
        return
    with pytest.raises(OverrideRequired) as caught:
        _add(db, course, fix, "prescriber", TABLE4_NOW)
    assert not isinstance(caught.value, OutsideWorkflow)
    [planned] = [r for r in caught.value.because if PLANNED in r]
    assert "1.1 mg recorded" in planned and "1.09 mg = 0.6 mg/m²" in planned


def test_history_doses_are_named_in_the_creation_audit(app: Any) -> None:
    db = app.state.database
    course = _table4_course(db)
    created = course_audit(db, course)[0]
    assert created.action == "course.create" and created.after is not None
    assert [(d["cycle"], d["day"]) for d in created.after["history_doses"]] == [(1, 1), (1, 8)]


def test_only_a_role_that_imports_courses_brings_doses_with_a_new_course(app: Any) -> None:
    case = yaml.safe_load(GOLDEN.read_text(encoding="utf-8"))
    case.pop("expect")
    with pytest.raises(Forbidden, match=r"course\.create"):
        create_course(app.state.database, case, actor="nurse", role="nurse", now=TABLE4_NOW)
