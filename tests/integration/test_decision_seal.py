"""Sealed stored decisions (issue 13, review M2) and the day's refresh lock (issue 15), on SQLite
and (marked) PostgreSQL.

A stored decision row (``current_decisions``) carries a MAC under the audit key: a row edited in
the database (its status, its alerts, its decision JSON), written without a MAC or sealed with
another key is never served by the Today list (recomputed from the events, critical alert
``DECISION_ROW_TAMPERED``, logged) and is reported by ``inoplan audit verify``. Rows written by
inoplan verify. Several workers refreshing a stale day compute each decision once.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import update

from inoplan.bootstrap import Database
from inoplan.persistence.repositories import SqlCurrentDecisions
from inoplan.persistence.rows import CurrentDecisionRow
from inoplan.services import decisions, records
from inoplan.services.audit import check_decision_rows, key_id, seal_decision_row, verify_chain
from inoplan.services.decision_store import TAMPERED
from inoplan.services.decisions import day_decisions
from tests.integration.records_helpers import (
    TODAY,
    course_document,
    migrated_database,
    settings_for,
    vitals_event,
)

NOW = datetime(TODAY.year, TODAY.month, TODAY.day, 9, tzinfo=UTC)
VOD = {"date": TODAY.isoformat(), "type": "toxicity", "term": "vod", "grade": 3}
OTHER_KEY = "Xk3Qm7Tz9Rv2Lp5Wb8Nc1Hd4Jf6Gs0Ya3Ue7Io2Kr5Tn8"


def add(database: Any, n: int, *, first: int = 0) -> list[int]:
    return [
        records.create_course(
            database,
            course_document(i % 4, patient_id=f"SEAL-{i:04d}"),
            actor="t",
            now=NOW,
            clock=lambda: NOW,
        ).id
        for i in range(first, first + n)
    ]


def stopped(database: Any) -> int:
    """A course whose decision for TODAY is to discontinue (a VOD recorded)."""
    [course] = add(database, 1)
    records.append_event(
        database, course, VOD, expected_version=1, actor="t", now=NOW, clock=lambda: NOW
    )
    return course


def edit(database: Any, course: int, **values: Any) -> None:
    """What anyone with write access to the database (but not the audit key) can do."""
    with database.uow(write=True) as uow:
        uow.session.execute(
            update(CurrentDecisionRow)
            .where(CurrentDecisionRow.course_id == course, CurrentDecisionRow.as_of == TODAY)
            .values(**values)
        )
        uow.commit()


def row_of(database: Any, course: int) -> Any:
    return {r.course_id: r for r in day_decisions(database, TODAY).rows}[course]


def test_rows_written_by_inoplan_verify(database: Database) -> None:
    ids = add(database, 3)
    stopped_course = stopped(database)
    day = day_decisions(database, TODAY)
    assert (day.fresh, day.recomputed, day.tampered) == (4, 0, 0)
    assert all(TAMPERED not in r.critical_codes and not r.tampered for r in day.rows)
    report = verify_chain(database)
    assert report.ok, report.message()
    assert report.decision_rows == 4 and "4 stored decisions match their MAC" in report.message()
    with database.uow() as uow:
        stored = uow.current_decisions.for_course(stopped_course)
    assert [r["status"] for r in stored] == ["discontinue"]
    assert stored[0]["mac_key_id"] == key_id(database.audit_key()) and len(stored[0]["mac"]) == 64
    assert check_decision_rows(database.audit_key(), stored) == []
    assert len(ids) == 3


def test_an_edited_status_is_detected_by_today_and_by_audit_verify(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    course = stopped(database)
    [other] = add(database, 1, first=1)
    edit(database, course, status="give", critical=0, critical_codes="", reason="forged")
    with caplog.at_level(logging.CRITICAL, logger="inoplan.services.decisions"):
        day = day_decisions(database, TODAY)
    rows = {r.course_id: r for r in day.rows}
    shown = rows[course]
    assert shown.status == "discontinue" and shown.recomputed  # from the events, not the row
    assert shown.critical_codes[0] == TAMPERED and shown.critical >= 2
    assert "does not match its MAC" in shown.tampered
    assert (rows[other].status, rows[other].recomputed, rows[other].tampered) == ("give", False, "")
    assert (day.tampered, day.recomputed, day.fresh) == (1, 1, 1)
    assert [r.alert for r in caplog.records] == [TAMPERED]  # type: ignore[attr-defined]
    assert f"course {course}" in caplog.records[0].getMessage()
    # left as found: every later list (any worker) shows the alert again, audit verify sees it
    assert row_of(database, course).critical_codes[0] == TAMPERED
    report = verify_chain(database)
    assert not report.ok
    assert (
        f"course {course}: stored decision for {TODAY.isoformat()}: does not match its MAC"
        in report.message()
    )
    # the next write to the course stores a sealed row again: the alert goes
    records.append_event(
        database,
        course,
        vitals_event(1),
        expected_version=2,
        actor="t",
        now=NOW,
        clock=lambda: NOW,
    )
    after = row_of(database, course)
    assert (after.status, after.tampered, after.recomputed) == ("discontinue", "", False)
    assert TAMPERED not in after.critical_codes


@pytest.mark.parametrize(
    "values",
    [
        {"critical_codes": "", "critical": 0},  # the alerts hidden
        {"next_dose_mg": 9.9},  # the dose shown
        {"reason": "forged reason (US PI 2.1)"},  # the reason shown
    ],
    ids=["alerts", "dose", "reason"],
)
def test_any_listed_column_edited_is_detected(database: Database, values: dict[str, Any]) -> None:
    course = stopped(database)
    edit(database, course, **values)
    shown = row_of(database, course)
    assert TAMPERED in shown.critical_codes and shown.status == "discontinue"
    assert shown.reason != "forged reason (US PI 2.1)"
    assert not verify_chain(database).ok


def test_a_row_without_a_mac_or_sealed_with_another_key_is_detected(database: Database) -> None:
    course = stopped(database)
    edit(database, course, mac=None, mac_key_id=None)
    assert "carries no MAC" in row_of(database, course).tampered
    assert "carries no MAC" in verify_chain(database).message()
    # a forger holding another key (or the key before a rotation) seals a forged status
    with database.uow() as uow:
        [stored] = uow.current_decisions.for_course(course)
    forged = {**stored, "status": "give"}
    other = OTHER_KEY.encode()
    edit(
        database,
        course,
        status="give",
        mac=seal_decision_row(other, forged),
        mac_key_id=key_id(other),
    )
    shown = row_of(database, course)
    assert shown.status == "discontinue" and "sealed with another audit key" in shown.tampered
    assert "sealed with another audit key" in " ".join(verify_chain(database).problems)


def test_a_rotated_audit_key_refuses_the_rows_sealed_before(database_url: str) -> None:
    first = migrated_database(database_url)
    try:
        course = stopped(first)
        assert row_of(first, course).tampered == ""
    finally:
        first.dispose()
    rotated = Database(settings_for(database_url, audit_key=SecretStr(OTHER_KEY)))
    try:
        shown = row_of(rotated, course)
        assert shown.status == "discontinue" and TAMPERED in shown.critical_codes
        assert "sealed with another audit key" in shown.tampered
        problems = " ".join(verify_chain(rotated).problems)
        assert f"course {course}: stored decision for {TODAY.isoformat()}" in problems
    finally:
        rotated.dispose()


def test_an_edited_decision_json_is_reported_by_audit_verify(database: Database) -> None:
    course = stopped(database)
    with database.uow() as uow:
        [stored] = uow.current_decisions.for_course(course)
    edit(database, course, decision={**stored["decision"], "status": "give"})
    report = verify_chain(database)
    assert not report.ok
    assert "its decision JSON differs from the one sealed" in report.message()
    # the list shows only sealed columns: what it shows is still the computed decision
    assert row_of(database, course).status == "discontinue"


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the decisions computed by the Today list's refresh (any thread)."""
    calls: list[int] = []
    real = decisions._decide

    def counted(document: Any, on: Any, policy: Any) -> Any:
        calls.append(1)
        return real(document, on, policy)

    monkeypatch.setattr(decisions, "_decide", counted)
    return calls


def test_two_workers_on_a_stale_day_compute_each_decision_once(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers (own engines, own connections) both find the day stale; neither has stored
    anything yet when the other reads (a barrier after each one's first read). One takes the
    day's lock and computes; the other waits, reads what was stored, computes nothing."""
    first = migrated_database(database_url)
    second = Database(settings_for(database_url))
    try:
        ids = add(first, 6)
        later = TODAY + timedelta(days=3)
        calls = _counting(monkeypatch)
        barrier = threading.Barrier(2, timeout=60)
        seen = threading.local()
        real_for_day = SqlCurrentDecisions.for_day

        def for_day(self: SqlCurrentDecisions, on: Any) -> Any:
            found = real_for_day(self, on)
            if not getattr(seen, "read", False):  # each worker's first read: both see it stale
                seen.read = True
                barrier.wait()
            return found

        monkeypatch.setattr(SqlCurrentDecisions, "for_day", for_day)
        results: dict[str, Any] = {}
        failures: list[BaseException] = []

        def worker(name: str, database: Database) -> None:
            try:
                results[name] = day_decisions(database, later)
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
        assert not failures, failures
        assert len(calls) == len(ids)  # once per course, not once per course and worker
        a, b = results["a"], results["b"]
        assert sorted([a.recomputed, b.recomputed]) == [0, len(ids)]
        assert {r.course_id: r.status for r in a.rows} == {r.course_id: r.status for r in b.rows}
        assert all(r.tampered == "" for r in (*a.rows, *b.rows))
    finally:
        first.dispose()
        second.dispose()


def test_the_commands_report_an_altered_row(tmp_path: Any) -> None:
    """``inoplan audit verify`` fails naming the row; ``inoplan decisions refresh`` counts it
    and exits 1 (it does not overwrite the evidence)."""
    import json

    from tests.integration.test_cli_records import _run

    url = f"sqlite:///{tmp_path / 'sealed.db'}"
    database = migrated_database(url)
    try:
        course = stopped(database)
        edit(database, course, status="give")
    finally:
        database.dispose()
    verify = _run(url, "audit", "verify")
    assert verify.returncode == 1
    assert f"course {course}: stored decision for {TODAY.isoformat()}" in verify.stderr
    refresh = _run(url, "decisions", "refresh", "--on", TODAY.isoformat(), "--json")
    assert refresh.returncode == 1 and "DECISION_ROW_TAMPERED" in refresh.stderr
    assert json.loads(refresh.stdout)["tampered"] == 1
    again = _run(url, "audit", "verify", "--json")
    assert again.returncode == 1 and json.loads(again.stdout)["decision_rows"] == 1
