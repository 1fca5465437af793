"""Stored decisions (issue 15): read by the Today list, recomputed only when stale, never served
stale, the same from every worker. Runs on SQLite and (marked) PostgreSQL; no timing: the
Today list's cost is asserted as a number of SQL statements, constant in the number of courses.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from inoplan.domain.policy import SitePolicy
from inoplan.errors import InvalidInput
from inoplan.services import decision_store, records
from inoplan.services.courses import decide_document
from inoplan.services.decisions import day_decisions, prune_decisions, refresh_decision
from tests.integration.records_helpers import (
    AUDIT_KEY,
    TODAY,
    course_document,
    migrated_database,
)

NOW = datetime(TODAY.year, TODAY.month, TODAY.day, 9, tzinfo=UTC)
VOD = {"date": TODAY.isoformat(), "type": "toxicity", "term": "vod", "grade": 3}


def add(database: Any, n: int, *, first: int = 0) -> list[int]:
    """``n`` courses with distinct patients, created on TODAY (the write stores the decision)."""
    return [
        records.create_course(
            database,
            course_document(i % 4, patient_id=f"SD-{i:04d}"),
            actor="t",
            now=NOW,
            clock=lambda: NOW,
        ).id
        for i in range(first, first + n)
    ]


def statuses(database: Any, on: date, **kwargs: Any) -> dict[int, tuple[str, bool]]:
    day = day_decisions(database, on, **kwargs)
    return {r.course_id: (r.status, r.recomputed) for r in day.rows}


def computed(database: Any, course_id: int, on: date, policy: Any = None) -> str:
    document = records.export_document(database, course_id)
    kwargs = {} if policy is None else {"policy": policy}
    return str(decide_document(document, on, **kwargs)["status"])


@contextmanager
def statements(database: Any) -> Iterator[list[str]]:
    """Every SQL statement sent to the database inside the block."""
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", count)


def test_a_write_stores_its_decision_and_the_list_reads_it(database: Any) -> None:
    [course] = add(database, 1)
    assert statuses(database, TODAY) == {course: ("give", False)}  # stored by the create
    records.append_event(
        database, course, VOD, expected_version=1, actor="t", now=NOW, clock=lambda: NOW
    )
    [row] = day_decisions(database, TODAY).rows
    assert (row.status, row.recomputed, row.course_version) == ("discontinue", False, 2)
    assert row.rules and not row.acknowledged
    assert computed(database, course, TODAY) == "discontinue"


def test_a_new_day_makes_it_stale_and_it_is_recomputed_once(database: Any) -> None:
    [course] = add(database, 1)
    later = TODAY + timedelta(days=3)  # the labs are too old by then
    assert statuses(database, later) == {course: ("cannot_decide", True)}
    assert computed(database, course, later) == "cannot_decide"
    assert statuses(database, later) == {course: ("cannot_decide", False)}  # stored
    assert statuses(database, TODAY) == {course: ("give", False)}  # each day its own row


def test_another_policy_or_knowledge_invalidates(
    database: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    [course] = add(database, 1)
    strict = SitePolicy(lab_max_age_days=0)
    assert decision_store.fingerprint(strict) != decision_store.fingerprint(None)
    assert statuses(database, TODAY, policy=strict) == {course: ("cannot_decide", True)}
    assert computed(database, course, TODAY, strict) == "cannot_decide"
    assert statuses(database, TODAY, policy=strict) == {course: ("cannot_decide", False)}
    assert statuses(database, TODAY) == {course: ("give", True)}  # back to the defaults
    monkeypatch.setattr(decision_store, "code_digest", lambda: "another release")
    assert statuses(database, TODAY) == {course: ("give", True)}


def test_a_stale_decision_that_cannot_be_recomputed_is_an_error_not_the_old_one(
    database: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inoplan.services import courses

    [course, other] = add(database, 2)
    records.append_event(
        database, course, VOD, expected_version=1, actor="t", now=NOW, clock=lambda: NOW
    )

    def broken(document: Any, on: date, **_: Any) -> Any:
        if document["patient"]["id"] == "SD-0000":
            raise InvalidInput("events", "the knowledge no longer accepts this course")
        return decide_document(document, on)

    monkeypatch.setattr(decision_store, "code_digest", lambda: "a new knowledge revision")
    monkeypatch.setattr(courses, "decide_document", broken)
    rows = {r.course_id: r for r in day_decisions(database, TODAY).rows}
    assert rows[course].status == "error" and "no longer accepts" in rows[course].error
    assert (rows[other].status, rows[other].recomputed) == ("give", True)
    # still stale (nothing stored for it), so the next list tries again and shows the error again
    assert day_decisions(database, TODAY).rows[0].status == "error"


def test_an_older_version_never_replaces_a_newer_one(database: Any) -> None:
    [course] = add(database, 1)
    old = records.export_document(database, course)
    records.append_event(
        database, course, VOD, expected_version=1, actor="t", now=NOW, clock=lambda: NOW
    )
    late = decision_store.stored_row(  # a slow refresh that read version 1 writes last
        key=database.audit_key(),
        course_id=course,
        course_version=1,
        on=TODAY,
        fingerprint=decision_store.fingerprint(None),
        decision=decide_document(old, TODAY),
        at=NOW,
    )
    with database.uow(write=True) as uow:
        uow.current_decisions.upsert([late])
        uow.commit()
    [row] = day_decisions(database, TODAY).rows
    assert (row.status, row.course_version, row.recomputed) == ("discontinue", 2, False)


def test_refresh_decision_stores_the_status_and_the_acknowledgement_is_joined(
    database: Any,
) -> None:
    [course] = add(database, 1)
    records.append_event(
        database, course, VOD, expected_version=1, actor="t", now=NOW, clock=lambda: NOW
    )
    later = TODAY + timedelta(days=1)
    assert refresh_decision(database, course, later) == "discontinue"
    assert statuses(database, later) == {course: ("discontinue", False)}
    records.acknowledge_course(database, course, later, actor="prescriber")
    [row] = day_decisions(database, later).rows
    assert row.acknowledged and not row.recomputed
    assert refresh_decision(database, 10**9, later) == "error"  # no such course


def test_the_patient_filter_recomputes_only_the_courses_shown(database: Any) -> None:
    add(database, 3)
    later = TODAY + timedelta(days=3)
    day = day_decisions(database, later, patient="sd-0001")
    assert [r.patient_id for r in day.rows] == ["SD-0001"]
    assert (day.fresh, day.recomputed, day.errors) == (0, 1, 0)
    assert day_decisions(database, later).recomputed == 2


def test_the_list_costs_the_same_statements_for_2_and_12_courses(database: Any) -> None:
    """Warm: one SELECT. Stale (a new day): the same small number, whatever the count."""
    add(database, 2)
    later = TODAY + timedelta(days=1)
    with statements(database) as cold_small:
        day_decisions(database, later)
    with statements(database) as warm_small:
        day_decisions(database, later)
    add(database, 10, first=2)
    with statements(database) as cold_large:
        assert day_decisions(database, later).recomputed == 10
    with statements(database) as warm_large:
        large = day_decisions(database, later)
    assert (large.fresh, large.recomputed, len(large.rows)) == (12, 0, 12)
    selects = [s for s in warm_large if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1
    assert len(warm_small) == len(warm_large)
    assert len(cold_small) == len(cold_large)
    writes = [s for s in cold_large if s.lstrip().upper().startswith("INSERT")]
    assert len(writes) == 1  # one upsert statement for the ten courses, one transaction


def test_prune_keeps_the_last_days(database: Any) -> None:
    [course] = add(database, 1)
    old = TODAY - timedelta(days=10)
    day_decisions(database, old)
    assert prune_decisions(database, TODAY) == 1
    assert statuses(database, old)[course][1] is True  # recomputed: it had been pruned
    assert statuses(database, TODAY)[course] == ("give", False)


@pytest.mark.parametrize(
    ("days", "stored"), [(-8, False), (-7, True), (7, True), (8, False), (30_000, False)]
)
def test_only_days_near_today_are_stored(database: Any, days: int, stored: bool) -> None:
    """Review: any reader could fill the store with far-future days (pruning removes only past
    days). A day outside RETAIN_DAYS before to STORE_AHEAD_DAYS after today is computed, shown
    and not stored."""
    [course] = add(database, 1)
    on = TODAY + timedelta(days=min(days, 20_000))
    first = statuses(database, on, today=TODAY)
    assert first[course][1] is True  # computed for the request
    assert statuses(database, on, today=TODAY)[course][1] is (not stored)


@pytest.mark.postgres
def test_two_workers_refreshing_the_same_day_agree_without_deadlock(
    postgres_schema_url: str,
) -> None:
    """Two processes' worth of engines (own pools, own connections) refresh a stale day at once:
    no deadlock, no duplicate row, the same answer as computing each decision directly."""
    first = migrated_database(postgres_schema_url)
    second = migrated_database(postgres_schema_url)
    try:
        ids = add(first, 12)
        later = TODAY + timedelta(days=3)
        results: dict[str, dict[int, str]] = {}
        failures: list[BaseException] = []
        barrier = threading.Barrier(2)

        def worker(name: str, database: Any) -> None:
            try:
                barrier.wait()
                day = day_decisions(database, later)
                results[name] = {r.course_id: r.status for r in day.rows}
            except BaseException as exc:  # reported below
                failures.append(exc)

        threads = [
            threading.Thread(target=worker, args=("a", first)),
            threading.Thread(target=worker, args=("b", second)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not failures
        expected = {i: computed(first, i, later) for i in ids}
        assert results["a"] == results["b"] == expected
        warm = day_decisions(second, later)
        assert (warm.fresh, warm.recomputed) == (12, 0)
        with first.uow() as uow:
            rows = uow.current_decisions.for_day(later)
        assert len(rows) == 12  # one row per course and day, whoever wrote it
    finally:
        first.dispose()
        second.dispose()


def test_the_refresh_command_recomputes_a_stale_day_once(tmp_path: Any) -> None:
    import json

    from tests.integration.test_cli_records import _run

    url = f"sqlite:///{tmp_path / 'refresh.db'}"
    database = migrated_database(url)
    try:
        add(database, 3)
    finally:
        database.dispose()
    later = (TODAY + timedelta(days=3)).isoformat()
    first = _run(url, "decisions", "refresh", "--on", later, "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {
        "on": later,
        "courses": 3,
        "fresh": 0,
        "recomputed": 3,
        "errors": 0,
        "tampered": 0,
        "pruned": 0,
    }
    again = _run(url, "decisions", "refresh", "--on", later, "--keep-days", "1")
    assert again.returncode == 0, again.stderr
    assert "3 courses, 3 current, 0 recomputed" in again.stdout
    assert "3 stored decisions of older days deleted" in again.stdout  # TODAY's, from the writes
    bad = _run(url, "decisions", "refresh", "--on", "tomorrow")
    assert bad.returncode == 2 and "--on" in bad.stderr


@pytest.mark.postgres
def test_two_processes_refreshing_at_once_agree_with_the_server(postgres_schema_url: str) -> None:
    """Two ``inoplan decisions refresh`` processes on one PostgreSQL day at once: both succeed,
    one row per course, and what they stored is what this process computes."""
    import json
    import subprocess
    import sys

    database = migrated_database(postgres_schema_url)
    try:
        ids = add(database, 8)
        later = (TODAY + timedelta(days=3)).isoformat()
        env = {k: v for k, v in os.environ.items() if not k.startswith("INOPLAN_")}
        env["INOPLAN_DATABASE_URL"] = postgres_schema_url
        env["INOPLAN_AUDIT_KEY"] = AUDIT_KEY  # the key of this process's database
        command = [sys.executable, "-m", "inoplan", "decisions", "refresh", "--on", later]
        processes = [
            subprocess.Popen(
                [*command, "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            for _ in range(2)
        ]
        outputs = [p.communicate(timeout=180) for p in processes]
        assert [p.returncode for p in processes] == [0, 0], [o[1] for o in outputs]
        counts = [json.loads(o[0]) for o in outputs]
        assert all(c["courses"] == 8 and c["errors"] == 0 for c in counts)
        day = date.fromisoformat(later)
        warm = day_decisions(database, day)
        assert (warm.fresh, warm.recomputed) == (8, 0)
        assert {r.course_id: r.status for r in warm.rows} == {
            i: computed(database, i, day) for i in ids
        }
    finally:
        database.dispose()
