"""Treatment-day steps from several threads at once (each its own connection): one wins, the
others get Conflict and write nothing; on SQLite and on PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from inoplan.errors import Conflict
from inoplan.services import workflow
from inoplan.services.audit import verify_chain
from inoplan.services.records import course_audit, create_course
from tests.web.conftest import course_document

NOW = datetime(2026, 12, 8, 10, 0, tzinfo=UTC)  # cycle 1 day 8 of the web fixture's course


def _race(count: int, step: Any) -> list[str]:
    def one(_: int) -> str:
        try:
            step()
        except Conflict:
            return "conflict"
        return "won"

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def test_concurrent_steps_on_one_day_move_it_once(database: Any) -> None:
    course = create_course(database, course_document(), actor="test").id

    def release() -> None:
        workflow.release(database, course, 1, 8, actor="prescriber", role="prescriber", now=NOW)

    def verify() -> None:
        workflow.verify(
            database, course, 1, 8, dose_mg="0.91", actor="pharmacist", role="pharmacist", now=NOW
        )

    for step, action in ((release, "dose.release"), (verify, "dose.verify")):
        outcomes = _race(4, step)
        assert sorted(outcomes) == ["conflict"] * 3 + ["won"], outcomes
        actions = [a.action for a in course_audit(database, course)]
        assert actions.count(action) == 1
    day = workflow.day_states(database, [course])[course][(1, 8)]
    assert (day.state, day.version) == ("verified", 2)
    assert verify_chain(database).ok
