"""Persistence on SQLite and PostgreSQL: schema, round trip, concurrency, audit chain, jti."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from inoplan.bootstrap import Database
from inoplan.errors import Conflict, InvalidInput, NotFound
from inoplan.services import records
from inoplan.services.audit import verify_chain
from tests.integration.records_helpers import course_document, head_revision, vitals_event


def test_the_migrated_schema_matches_the_row_classes(database: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from inoplan.persistence.rows import Base

    with database.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
    assert database.current_revision() == head_revision()
    assert database.upgrade() == head_revision()  # idempotent


def test_a_course_round_trips_exactly(database: Database) -> None:
    document = course_document(1)
    ref = records.create_course(database, document, actor="tester")
    assert records.export_document(database, ref.id) == document
    stored = records.course_document(database, ref.id)
    assert stored["version"] == 1 and stored["id"] == ref.id


def test_an_invalid_document_stores_nothing(database: Database) -> None:
    document = course_document(0)
    document["events"][3]["anc"]["unit"] = "g/L"  # not a count unit
    with pytest.raises(InvalidInput) as caught:
        records.create_course(database, document, actor="tester")
    assert caught.value.field == "events[3].anc.unit"
    assert records.list_courses(database).count == 0
    assert verify_chain(database).checked == 0


def test_two_writers_with_the_same_version_one_conflict_nothing_lost(database: Database) -> None:
    ref = records.create_course(database, course_document(0), actor="tester")
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def write(name: str) -> None:
        barrier.wait()
        try:
            outcomes[name] = records.append_event(
                database, ref.id, vitals_event(0, prefix=name), expected_version=1, actor=name
            ).version
        except Conflict as exc:
            outcomes[name] = exc

    threads = [threading.Thread(target=write, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [n for n, v in outcomes.items() if v == 2]
    losers = [n for n, v in outcomes.items() if isinstance(v, Conflict)]
    assert len(winners) == 1 and len(losers) == 1
    stored = records.course_document(database, ref.id)
    assert stored["version"] == 2
    assert stored["events"][-1]["id"] == f"{winners[0]}-0"
    assert len(stored["events"]) == len(course_document(0)["events"]) + 1
    assert verify_chain(database).ok


WRITERS = 8
EVENTS_PER_WRITER = 200
COURSES = 4  # two writers per course: they race on the same versions


def test_eight_concurrent_writers_lose_no_acknowledged_event(database: Database) -> None:
    ids = [
        records.create_course(database, course_document(0, patient_id=f"C-{i}"), actor="t").id
        for i in range(COURSES)
    ]
    acknowledged: list[tuple[int, str]] = []
    conflicts = 0
    lock = threading.Lock()

    def writer(w: int) -> None:
        nonlocal conflicts
        course_id = ids[w % COURSES]
        version = records.course_version(database, course_id)
        for n in range(EVENTS_PER_WRITER):
            event = vitals_event(n, prefix=f"w{w}")
            while True:
                try:
                    version = records.append_event(
                        database, course_id, event, expected_version=version, actor=f"w{w}"
                    ).version
                except Conflict:  # the other writer on this course came first: reload, retry
                    with lock:
                        conflicts += 1
                    version = records.course_version(database, course_id)
                    continue
                with lock:
                    acknowledged.append((course_id, event["id"]))
                break

    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(writer, range(WRITERS)))

    assert len(acknowledged) == WRITERS * EVENTS_PER_WRITER
    present: set[tuple[int, str]] = set()
    for course_id in ids:
        stored = records.course_document(database, course_id)
        written = [e for e in stored["events"] if e.get("id", "").startswith("w")]
        assert stored["version"] == 1 + len(written)  # one version per event, no gaps
        present.update((course_id, e["id"]) for e in written)
    assert present == set(acknowledged)
    report = verify_chain(database)
    assert report.ok, report.message()
    assert report.checked == COURSES + WRITERS * EVENTS_PER_WRITER


def test_an_altered_audit_record_is_named(database: Database) -> None:
    from sqlalchemy import update

    from inoplan.persistence.rows import AuditRow

    ref = records.create_course(database, course_document(0), actor="tester")
    for n in range(3):
        records.append_event(
            database, ref.id, vitals_event(n), expected_version=1 + n, actor="nurse"
        )
    assert verify_chain(database).ok
    with database.uow(write=True) as uow:
        uow.session.execute(update(AuditRow).where(AuditRow.seq == 3).values(actor="someone-else"))
        uow.commit()
    report = verify_chain(database)
    assert not report.ok and report.first_broken_seq == 3
    assert "record 3" in report.message()


def test_a_removed_audit_record_is_named(database: Database) -> None:
    from sqlalchemy import delete

    from inoplan.persistence.rows import AuditRow

    ref = records.create_course(database, course_document(0), actor="tester")
    for n in range(3):
        records.append_event(
            database, ref.id, vitals_event(n), expected_version=1 + n, actor="nurse"
        )
    with database.uow(write=True) as uow:
        uow.session.execute(delete(AuditRow).where(AuditRow.seq == 2))
        uow.commit()
    report = verify_chain(database)
    assert not report.ok and report.first_broken_seq == 3  # the record after the gap
    assert "record 2 is missing" in report.message()


def test_removing_the_newest_audit_record_is_detected(database: Database) -> None:
    from sqlalchemy import delete

    from inoplan.persistence.rows import AuditRow

    records.create_course(database, course_document(0), actor="tester")
    second = records.create_course(database, course_document(1), actor="tester")
    with database.uow(write=True) as uow:
        uow.session.execute(delete(AuditRow).where(AuditRow.seq == 2))
        uow.commit()
    report = verify_chain(database)
    assert not report.ok
    assert f"chain 'course:{second.id}': its head says 1 records but 0" in report.message()
    assert f"course {second.id}: 0 creation records" in " ".join(report.problems)


def test_an_unknown_course_is_not_found(database: Database) -> None:
    with pytest.raises(NotFound):
        records.append_event(database, 12345, vitals_event(1), expected_version=1, actor="x")
    with pytest.raises(NotFound):
        records.course_document(database, 12345)


def test_a_jti_is_accepted_once_then_refused(database: Database) -> None:
    expires = datetime.now(UTC) + timedelta(minutes=5)
    assert database.replay.remember("https://ehr.example.org", "abc", expires) is True
    assert database.replay.remember("https://ehr.example.org", "abc", expires) is False
    assert database.replay.remember("https://other.example.org", "abc", expires) is True


def test_expired_jti_rows_are_purged(database: Database) -> None:
    from sqlalchemy import func, select

    from inoplan.persistence.rows import CdsJtiRow

    past = datetime.now(UTC) - timedelta(minutes=1)
    assert database.replay.remember("iss", "old", past) is True
    assert database.replay.remember("iss", "old", past) is True  # dead: may be reused
    database.replay._last_purge = float("-inf")  # the next call purges
    assert database.replay.remember("iss", "new", datetime.now(UTC) + timedelta(minutes=5))
    with database.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(CdsJtiRow)) == 1


def test_concurrent_replays_of_one_jti_are_accepted_exactly_once(database: Database) -> None:
    expires = datetime.now(UTC) + timedelta(minutes=5)
    barrier = threading.Barrier(6)

    def attempt(_: int) -> bool:
        barrier.wait()
        return database.replay.remember("https://ehr.example.org", "same", expires)

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(attempt, range(6)))
    assert results.count(True) == 1


def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from tests.integration.records_helpers import migrated_database

    database = migrated_database(f"sqlite:///{tmp_path / 'pragmas.db'}")
    with database.engine.connect() as connection:
        pragma = {
            name: connection.execute(text(f"PRAGMA {name}")).scalar()
            for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
        }
    assert pragma == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "busy_timeout": 30000,
        "synchronous": 2,
    }
    with pytest.raises(IntegrityError), database.uow(write=True) as uow:  # no course 42
        uow.courses.add_event(42, 0, vitals_event(1), at=datetime.now(UTC), by="x")
        uow.commit()
    database.dispose()
