"""The keyed audit trail on SQLite and PostgreSQL: tampering with audit records, events and
course rows in the database is detected; the legacy (unkeyed) segment stays verifiable; writes
to different courses do not wait on each other (PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import delete, select, text, update

from inoplan.bootstrap import Database
from inoplan.errors import InvalidInput
from inoplan.persistence.rows import AuditChainRow, AuditRow, CourseRow, EventRow, PatientRow
from inoplan.services import records
from inoplan.services.audit import (
    GENESIS_HASH,
    _record_content,
    anchor,
    record_hash,
    verify_chain,
)
from inoplan.services.ports import AuditRecord
from tests.integration.records_helpers import course_document, settings_for, vitals_event


def _course_with_events(database: Database, n: int = 3) -> int:
    ref = records.create_course(database, course_document(0), actor="tester")
    for i in range(n):
        records.append_event(
            database, ref.id, vitals_event(i), expected_version=1 + i, actor="nurse"
        )
    return ref.id


def _chain(database: Database, chain: str) -> list[AuditRecord]:
    with database.uow() as uow:
        return list(uow.audit.chain_records(chain))


def _rewrite(database: Database, chain: str, change: dict[int, dict[str, Any]]) -> None:
    """Change records of a chain and recompute every hash after it with plain SHA-256 (what
    anyone with database access can do without the key), marking them unkeyed or not."""
    prev = GENESIS_HASH
    with database.uow(write=True) as uow:
        for record in uow.audit.chain_records(chain):
            values = change.get(record.chain_seq, {})
            fields = {n: getattr(record, n) for n in AuditRecord.__slots__}
            fields.update(values, prev_hash=prev)
            rewritten = AuditRecord(**fields)
            digest = record_hash(prev, _record_content(rewritten))
            uow.session.execute(
                update(AuditRow)
                .where(AuditRow.seq == record.seq)
                .values(prev_hash=prev, hash=digest, **values)
            )
            prev = digest
        uow.session.execute(
            update(AuditChainRow).where(AuditChainRow.chain == chain).values(hash=prev)
        )
        uow.commit()


def test_a_fresh_trail_is_intact_and_keyed(database: Database) -> None:
    course_id = _course_with_events(database)
    report = verify_chain(database)
    assert report.ok, report.message()
    assert report.keyed == 4 and report.legacy == 0 and report.courses == 1
    assert report.events == len(course_document(0)["events"]) + 3
    assert [r.chain_seq for r in _chain(database, f"course:{course_id}")] == [1, 2, 3, 4]


def test_an_edited_record_with_recomputed_plain_sha256_is_detected(database: Database) -> None:
    course_id = _course_with_events(database)
    chain = f"course:{course_id}"
    event = dict(_chain(database, chain)[2].after or {})
    event["event"] = {**event["event"], "weight_kg": 640}
    _rewrite(database, chain, {3: {"after": event}})
    report = verify_chain(database)
    assert not report.ok
    assert "altered" in report.message()
    # the same rewrite, marked as an unkeyed (legacy) record, is refused as well
    _rewrite(database, chain, {3: {"after": event, "scheme": "sha256", "key_id": None}})
    report = verify_chain(database)
    assert not report.ok and "unkeyed record in chain" in " ".join(report.problems)


def test_an_event_payload_edited_in_the_database_is_detected(database: Database) -> None:
    course_id = _course_with_events(database)
    position = len(course_document(0)["events"]) + 1  # an appended event
    with database.uow(write=True) as uow:
        row = uow.session.scalars(
            select(EventRow).where(EventRow.course_id == course_id, EventRow.position == position)
        ).one()
        uow.session.execute(
            update(EventRow)
            .where(EventRow.id == row.id)
            .values(data={**row.data, "weight_kg": row.data["weight_kg"] * 10})
        )
        uow.commit()
    assert records.course_document(database, course_id)["events"][position]["weight_kg"] > 400
    report = verify_chain(database)
    assert not report.ok
    assert f"course {course_id}: event {position} differs from what its audit record" in (
        report.message()
    )


def test_an_event_stored_with_the_course_edited_in_the_database_is_detected(
    database: Database,
) -> None:
    course_id = _course_with_events(database, 0)
    with database.uow(write=True) as uow:
        row = uow.session.scalars(
            select(EventRow).where(EventRow.course_id == course_id, EventRow.position == 0)
        ).one()
        uow.session.execute(
            update(EventRow).where(EventRow.id == row.id).values(data={**row.data, "note": "x"})
        )
        uow.commit()
    report = verify_chain(database)
    assert not report.ok and "does not match its creation record" in report.message()


def test_course_and_patient_rows_edited_in_the_database_are_detected(database: Database) -> None:
    course_id = _course_with_events(database, 1)
    with database.uow(write=True) as uow:
        uow.session.execute(
            update(CourseRow).where(CourseRow.id == course_id).values(label_revision="us-1999")
        )
        uow.commit()
    assert "course or patient row" in verify_chain(database).message()
    with database.uow(write=True) as uow:
        uow.session.execute(
            update(CourseRow).where(CourseRow.id == course_id).values(label_revision="us-2024")
        )
        uow.session.execute(update(PatientRow).values(sex="male"))
        uow.commit()
    problems = " ".join(verify_chain(database).problems)
    assert "course or patient row" in problems


def test_deleted_and_reordered_entries_are_detected(database: Database) -> None:
    course_id = _course_with_events(database)
    chain = f"course:{course_id}"
    seqs = [r.seq for r in _chain(database, chain)]
    with database.uow(write=True) as uow:  # swap the places of records 2 and 3 in the chain
        uow.session.execute(update(AuditRow).where(AuditRow.seq == seqs[1]).values(chain_seq=-3))
        uow.session.execute(update(AuditRow).where(AuditRow.seq == seqs[2]).values(chain_seq=2))
        uow.session.execute(update(AuditRow).where(AuditRow.seq == seqs[1]).values(chain_seq=3))
        uow.commit()
    report = verify_chain(database)
    assert not report.ok and "out of order" in report.message()

    other = _course_with_events(database)
    stored = len(course_document(0)["events"])
    with database.uow(write=True) as uow:  # an appended event removed with its audit record
        uow.session.execute(
            delete(EventRow).where(EventRow.course_id == other, EventRow.position == stored + 2)
        )
        newest = _chain(database, f"course:{other}")[-1]
        uow.session.execute(delete(AuditRow).where(AuditRow.seq == newest.seq))
        uow.commit()
    problems = " ".join(verify_chain(database).problems)
    assert f"chain 'course:{other}': its head says 4 records but 3" in problems
    assert f"course {other}: version 4 does not match the 2 events appended" in problems


def test_an_anchored_tail_cannot_be_removed_even_with_its_head(database: Database) -> None:
    course_id = _course_with_events(database)
    head = anchor(database)
    assert head.written and head.chains == 1
    chain = _chain(database, f"course:{course_id}")
    with database.uow(write=True) as uow:  # drop the newest record and roll its head back
        uow.session.execute(delete(AuditRow).where(AuditRow.seq == chain[-1].seq))
        uow.session.execute(
            update(AuditChainRow)
            .where(AuditChainRow.chain == f"course:{course_id}")
            .values(seq=3, hash=chain[-2].hash)
        )
        uow.commit()
    problems = " ".join(verify_chain(database, data=False).problems)
    assert f"chain 'course:{course_id}' record 4 was committed to by an anchor" in problems


def test_records_keyed_with_another_key_are_named(database_url: str) -> None:
    first = Database(settings_for(database_url))
    first.upgrade()
    _course_with_events(first, 1)
    first.dispose()
    other = Database(
        settings_for(
            database_url, audit_key=SecretStr("Xk3Qm7Tz9Rv2Lp5Wb8Nc1Hd4Jf6Gs0Ya3Ue7Io2Kr5Tn8")
        )
    )
    try:
        report = verify_chain(other)
    finally:
        other.dispose()
    assert not report.ok and "keyed with another audit key" in report.message()


def test_the_legacy_segment_stays_verifiable_and_is_anchored_under_the_key(
    database_url: str,
) -> None:
    from inoplan.persistence.migrate import upgrade

    database = Database(settings_for(database_url))
    upgrade(database.engine, "0005_treatment_days")
    prev = GENESIS_HASH
    with database.engine.begin() as connection:  # three records as the old code wrote them
        for seq in (1, 2, 3):
            content = {
                "seq": seq,
                "at": f"2026-11-0{seq}T10:00:00.000000+00:00",
                "actor": "admin",
                "action": "user.add",
                "entity": "user",
                "entity_id": f"u{seq}",
                "course_id": None,
                "before": None,
                "after": {"role": "viewer"},
            }
            digest = record_hash(prev, content)
            connection.execute(
                text(
                    "INSERT INTO audit_records (seq, at, actor, action, entity, entity_id, "
                    "course_id, before, after, prev_hash, hash) VALUES (:seq, :at, :actor, "
                    ":action, :entity, :entity_id, NULL, NULL, :after, :prev, :hash)"
                ),
                {**content, "after": '{"role": "viewer"}', "prev": prev, "hash": digest},
            )
            prev = digest
        connection.execute(
            text("UPDATE audit_head SET seq = 3, hash = :h WHERE id = 1"), {"h": prev}
        )
    database.upgrade()
    try:
        report = verify_chain(database)
        assert report.ok, report.message()
        assert report.legacy == 3 and not report.legacy_anchored
        assert "3 legacy plain SHA-256 records" in report.message()
        assert "NOT yet anchored" in report.message()
        _course_with_events(database, 1)  # new records are keyed; seq goes on after the legacy
        assert min(r.seq for r in _chain(database, "course:1")) == 4
        anchor(database)
        report = verify_chain(database)
        assert report.ok and report.legacy_anchored and report.keyed == 3
        # rewriting a legacy record and recomputing the plain chain is now detected
        _rewrite(database, "legacy", {2: {"after": {"role": "admin"}}})
        report = verify_chain(database)
        assert not report.ok
        assert "differs from what an anchor committed to" in " ".join(report.problems)
    finally:
        database.dispose()


@pytest.mark.postgres
def test_a_write_held_open_on_one_course_does_not_block_a_write_on_another(
    postgres_schema_url: str,
) -> None:
    """With a short lock_timeout, course B is written while a transaction that wrote to course A
    (event, version, audit record) is still open; a second write to A times out instead."""
    from datetime import UTC, datetime

    from sqlalchemy.exc import OperationalError

    from inoplan.services.audit import append_audit

    holder = Database(settings_for(postgres_schema_url))
    holder.upgrade()
    a = records.create_course(holder, course_document(0, patient_id="A-1"), actor="t").id
    b = records.create_course(holder, course_document(1, patient_id="B-1"), actor="t").id
    short = postgres_schema_url.replace("options=", "options=-clock_timeout%3D1500%20", 1)
    other = Database(settings_for(short))
    try:
        with holder.uow(write=True) as uow:  # a write on A, not committed yet
            assert uow.courses.bump_version(a, 1, at=datetime.now(UTC))
            uow.courses.add_event(a, 99, vitals_event(99), at=datetime.now(UTC), by="held")
            append_audit(
                uow,
                actor="held",
                action="event.vitals",
                entity="event",
                entity_id=f"{a}:99",
                course_id=a,
                after={"event": "held"},
            )
            ref = records.append_event(other, b, vitals_event(1), expected_version=1, actor="n")
            assert ref.version == 2
            with pytest.raises(OperationalError, match="lock timeout"):
                records.append_event(other, a, vitals_event(2), expected_version=1, actor="n")
    finally:
        other.dispose()
        holder.dispose()


def test_a_course_written_by_another_worker_is_never_judged_from_a_stale_parse(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parsed-course cache is per process: a write by another worker (here: the same write
    path with an empty cache of its own) raises the version, so this process's entry for the
    older version is never used; the duplicate id written meanwhile is refused."""
    ref = records.create_course(database, course_document(0), actor="t")
    mine = records.PARSED_COURSES
    records.append_event(
        database, ref.id, vitals_event(1, prefix="a"), expected_version=1, actor="a"
    )
    assert mine.get(_record(database, ref.id)) is not None  # this worker parsed version 2
    other = records.ParsedCourses()
    monkeypatch.setattr(records, "PARSED_COURSES", other)
    records.append_event(
        database, ref.id, vitals_event(2, prefix="b"), expected_version=2, actor="b"
    )
    monkeypatch.setattr(records, "PARSED_COURSES", mine)
    assert mine.get(_record(database, ref.id)) is None  # version 3 is not in this worker's cache

    with pytest.raises(InvalidInput, match="duplicate event id"):
        records.append_event(
            database, ref.id, vitals_event(2, prefix="b"), expected_version=3, actor="a"
        )
    records.append_event(
        database, ref.id, vitals_event(3, prefix="a"), expected_version=3, actor="a"
    )
    ids = [e.get("id") for e in records.course_document(database, ref.id)["events"]]
    assert ids[-3:] == ["a-1", "b-2", "a-3"]
    assert verify_chain(database).ok


def _record(database: Database, course_id: int) -> Any:
    with database.uow() as uow:
        return uow.courses.get(course_id)


def test_a_worker_extends_its_parse_with_events_another_worker_wrote(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the events written elsewhere since are read and validated into this worker's parse;
    when the stored history is not the one the entry was built from, the whole document is."""
    from datetime import timedelta

    full_parses: list[int] = []
    parse = records._parse

    def counted(document: Any) -> Any:
        full_parses.append(1)
        return parse(document)

    monkeypatch.setattr(records, "_parse", counted)
    ref = records.create_course(database, course_document(0), actor="t")
    mine = records.PARSED_COURSES
    records.append_event(
        database, ref.id, vitals_event(1, prefix="a"), expected_version=1, actor="a"
    )
    monkeypatch.setattr(records, "PARSED_COURSES", records.ParsedCourses())  # another worker
    for n, version in ((2, 2), (3, 3)):
        records.append_event(
            database, ref.id, vitals_event(n, prefix="b"), expected_version=version, actor="b"
        )
    monkeypatch.setattr(records, "PARSED_COURSES", mine)
    full_parses.clear()
    records.append_event(
        database, ref.id, vitals_event(4, prefix="a"), expected_version=4, actor="a"
    )
    assert full_parses == []  # extended by b-2 and b-3, then a-4
    with pytest.raises(InvalidInput, match="duplicate event id"):
        records.append_event(
            database, ref.id, vitals_event(3, prefix="b"), expected_version=5, actor="a"
        )
    assert full_parses == []

    monkeypatch.setattr(records, "PARSED_COURSES", records.ParsedCourses())
    records.append_event(
        database, ref.id, vitals_event(5, prefix="b"), expected_version=5, actor="b"
    )
    full_parses.clear()
    last = len(course_document(0)["events"]) + 3  # a-4, the newest event this worker holds
    with database.uow(write=True) as uow:  # as if the database had gone another way since
        row = uow.session.scalars(
            select(EventRow).where(EventRow.course_id == ref.id, EventRow.position == last)
        ).one()
        uow.session.execute(
            update(EventRow)
            .where(EventRow.id == row.id)
            .values(recorded_at=row.recorded_at - timedelta(seconds=1))
        )
        uow.commit()
    monkeypatch.setattr(records, "PARSED_COURSES", mine)
    records.append_event(
        database, ref.id, vitals_event(6, prefix="a"), expected_version=6, actor="a"
    )
    assert full_parses == [1]  # read and parsed in full
    ids = [e.get("id") for e in records.course_document(database, ref.id)["events"]]
    assert ids[-6:] == ["a-1", "b-2", "b-3", "a-4", "b-5", "a-6"]
