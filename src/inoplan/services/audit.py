"""Tamper-evident audit trail: records chained by SHA-256.

Each record's ``hash`` is SHA-256 over the previous record's hash and the record's own content
(canonical JSON). Changing, inserting or removing any record breaks the chain from that record
on; :func:`verify_chain` finds the first broken record. The chain head (newest ``seq`` and hash)
is kept in a one-row table that every appending transaction locks, so concurrent writers on
several workers extend one chain instead of forking it.

Audit records hold opaque identifiers (course ids, patient ids), never patient names.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from inoplan.services.ports import AuditRecord, UnitOfWork, UowFactory

__all__ = [
    "GENESIS_HASH",
    "ChainReport",
    "append_audit",
    "iter_audit",
    "record_hash",
    "verify_chain",
]

GENESIS_HASH = "0" * 64


def _content(
    *,
    seq: int,
    at: str,
    actor: str,
    action: str,
    entity: str,
    entity_id: str | None,
    course_id: int | None,
    before: Any,
    after: Any,
) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": at,
        "actor": actor,
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "course_id": course_id,
        "before": before,
        "after": after,
    }


def record_hash(prev_hash: str, content: dict[str, Any]) -> str:
    """SHA-256 (hex) of the previous hash and the canonical JSON of the record's content.

    >>> record_hash(GENESIS_HASH, {"seq": 1})[:12]
    'a453da815121'
    """
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + "\n" + canonical).encode("utf-8")).hexdigest()


def append_audit(
    uow: UnitOfWork,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: str | None = None,
    course_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditRecord:
    """Append one audit record inside the caller's unit of work (commit is the caller's).

    Call it in the same transaction as the write it describes, so that both or neither are
    kept. For a record on its own (e.g. CDS Hooks feedback)::

        with uow_factory(write=True) as uow:
            append_audit(uow, actor="cds:https://ehr.example.org", action="cds.feedback",
                         entity="card", entity_id=card_uuid, after={"outcome": "accepted"})
            uow.commit()
    """
    when = (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")
    head_seq, head_hash = uow.audit.lock_head()
    seq = head_seq + 1
    content = _content(
        seq=seq,
        at=when,
        actor=actor,
        action=action,
        entity=entity,
        entity_id=entity_id,
        course_id=course_id,
        before=before,
        after=after,
    )
    digest = record_hash(head_hash, content)
    record = AuditRecord(prev_hash=head_hash, hash=digest, **content)
    uow.audit.insert(record)
    uow.audit.set_head(seq, digest)
    return record


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    checked: int
    first_broken_seq: int | None = None
    problem: str | None = None

    def message(self) -> str:
        if self.ok:
            return f"audit trail intact: {self.checked} records, hash chain verified"
        return f"audit trail BROKEN at record {self.first_broken_seq}: {self.problem}"


def check_records(records: Iterable[AuditRecord], head: tuple[int, str] | None) -> ChainReport:
    """Walk records in ``seq`` order and check links, hashes and continuity (pure)."""
    prev_hash = GENESIS_HASH
    expected_seq = 1
    checked = 0
    for record in records:
        if record.seq != expected_seq:
            return ChainReport(
                False,
                checked,
                expected_seq,
                f"record {expected_seq} is missing (next is {record.seq})",
            )
        if record.prev_hash != prev_hash:
            return ChainReport(
                False, checked, record.seq, "prev_hash does not match the previous record's hash"
            )
        content = _content(
            seq=record.seq,
            at=record.at,
            actor=record.actor,
            action=record.action,
            entity=record.entity,
            entity_id=record.entity_id,
            course_id=record.course_id,
            before=record.before,
            after=record.after,
        )
        if record_hash(prev_hash, content) != record.hash:
            return ChainReport(
                False, checked, record.seq, "content does not match its hash (altered)"
            )
        prev_hash = record.hash
        expected_seq += 1
        checked += 1
    if head is not None:
        head_seq, head_hash = head
        if head_seq != checked:
            return ChainReport(
                False,
                checked,
                checked + 1 if head_seq > checked else head_seq,
                f"the chain head says {head_seq} records but {checked} are present "
                "(records removed from the end, or the head was altered)",
            )
        if head_seq and head_hash != prev_hash:
            return ChainReport(False, checked, head_seq, "the chain head's hash does not match")
    return ChainReport(True, checked)


def verify_chain(uow_factory: UowFactory) -> ChainReport:
    """Verify the whole audit trail in the database (streams records in batches)."""
    with uow_factory() as uow:
        head = uow.audit.head()
    # Records appended after the head was read are not part of this check.
    records = (r for r in iter_audit(uow_factory) if r.seq <= head[0])
    return check_records(records, head)


def iter_audit(uow_factory: UowFactory, *, batch: int = 1000) -> Iterator[AuditRecord]:
    """Every audit record in ``seq`` order, read in batches of short transactions."""
    after = 0
    while True:
        with uow_factory() as uow:
            chunk = list(uow.audit.after(after, limit=batch))
        if not chunk:
            return
        yield from chunk
        after = chunk[-1].seq
