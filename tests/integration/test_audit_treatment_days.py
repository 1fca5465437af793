"""``audit verify`` checks every ``treatment_days`` row against the ``dose.*`` audit records the
workflow writes with it (second review, M2): a forged, edited or removed dose state is named."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, update

from inoplan.persistence.rows import TreatmentDayRow
from inoplan.services import workflow
from inoplan.services.audit import verify_chain
from inoplan.services.records import create_course
from tests.web.conftest import course_document

NOW = datetime(2026, 12, 8, 10, 0, tzinfo=UTC)  # cycle 1 day 8 of the web fixture's course


def _verified_day(database: Any) -> int:
    course = create_course(database, course_document(), actor="test").id
    workflow.release(database, course, 1, 8, actor="prescriber", role="prescriber", now=NOW)
    workflow.verify(
        database, course, 1, 8, dose_mg="0.91", actor="pharmacist", role="pharmacist", now=NOW
    )
    return course


def _problems(database: Any) -> tuple[str, ...]:
    report = verify_chain(database)
    assert report.ok is not bool(report.problems)
    return report.problems


def _change(database: Any, course: int, **values: Any) -> None:
    with database.uow(write=True) as uow:
        uow.session.execute(
            update(TreatmentDayRow)
            .where(TreatmentDayRow.course_id == course, TreatmentDayRow.day == 8)
            .values(**values)
        )
        uow.commit()


def test_untouched_days_verify(database: Any) -> None:
    _verified_day(database)
    assert _problems(database) == ()


def test_an_edited_state_version_writer_or_step_is_named(database: Any) -> None:
    course = _verified_day(database)
    _change(database, course, state="prepared")
    assert any("day 8: state 'prepared'" in p for p in _problems(database))
    _change(database, course, state="verified", version=3)
    assert any("version 3 but 2 steps" in p for p in _problems(database))
    _change(database, course, version=2, updated_by="ghost")
    assert any("updated_by differs" in p for p in _problems(database))
    _change(database, course, updated_by="pharmacist")
    assert _problems(database) == ()
    day = workflow.day_states(database, [course])[course][(1, 8)]
    steps = dict(day.steps)
    steps["verified"] = {**steps["verified"], "dose_mg": 9.1}
    _change(database, course, steps=steps)
    assert any("recorded step differs" in p for p in _problems(database))


def test_a_forged_day_and_a_removed_one_are_named(database: Any) -> None:
    course = _verified_day(database)
    with database.uow(write=True) as uow:
        uow.session.add(
            TreatmentDayRow(
                course_id=course,
                cycle=1,
                day=15,
                state="prepared",
                version=3,
                steps={"prepared": {"dose_mg": 0.91, "by": "ghost"}},
                updated_at=NOW,
                updated_by="ghost",
            )
        )
        uow.commit()
    assert any(
        "cycle 1 day 15 has no audit record (written outside inoplan)" in p
        for p in _problems(database)
    )
    with database.uow(write=True) as uow:
        uow.session.execute(delete(TreatmentDayRow).where(TreatmentDayRow.course_id == course))
        uow.commit()
    assert any("cycle 1 day 8 (audit record" in p and "missing" in p for p in _problems(database))
