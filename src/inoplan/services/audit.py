"""Tamper-evident audit trail: keyed hash chains, one per course, anchored in batches.

**Chains.** Every audit record belongs to one chain: ``course:<id>`` for everything about a
course (its creation, each event, decisions shown and confirmed, acknowledgements, the
treatment-day steps), ``<entity>:<id>`` for the rest (``user:alice``), ``anchor`` for the anchors.
Within a chain the records are numbered ``chain_seq`` 1, 2, 3, ... and each record's ``hash`` is
HMAC-SHA256, keyed with the audit key (``INOPLAN_AUDIT_KEY``, kept outside the database), over
the previous record's hash and the record's own content (canonical JSON). An append locks only
its own chain's head row (``audit_chains``), so writes to different courses never wait on each
other; ``seq`` (a database sequence) orders all records.

**Anchors.** :func:`anchor` (``inoplan audit head``) appends one record to the ``anchor`` chain
that commits to the head of every chain that grew since the previous anchor, and returns the
anchor chain's head: exported and kept elsewhere (a ticket, a log server, a printout), it lets
``audit verify --expect`` prove that nothing anchored was removed since, not even the newest
records of a chain, or a whole chain.

**Legacy.** Records written before the audit key existed (chain ``legacy``, scheme ``sha256``)
stay verifiable as they were (plain SHA-256). They are reported as a legacy segment: anyone
with database access could have rewritten them and recomputed plain hashes up to the first
anchor, which fixes the legacy head under the key.

**Stored data.** :func:`verify_chain` also checks every course row and every stored event
against the audit records that wrote them (the event's JSON, its columns, the document hash at
creation, the version count), so an event edited in the database is detected, not served.

**Sealed decision rows.** The stored decisions the Today list reads (``current_decisions``,
derived data written by ``services.decision_store``) are not audit records, but each carries a
MAC under the same key over its content (:func:`seal_decision_row`); the Today list refuses a
row that fails it (:func:`decision_row_problem`), and :func:`verify_chain` reports it.

Audit records hold opaque identifiers (course ids, patient ids), never patient names.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any, TypedDict

from inoplan.services.common import (
    ascii_int,
    assemble_document,
    canonical_json,
    document_sha256,
)
from inoplan.services.ports import AuditRecord, UnitOfWork, UowFactory

__all__ = [
    "ANCHOR_CHAIN",
    "DECISION_ROW_COLUMNS",
    "GENESIS_HASH",
    "KEYED",
    "LEGACY",
    "LEGACY_CHAIN",
    "AnchorHead",
    "AnchorHeadJson",
    "ChainReport",
    "anchor",
    "append_audit",
    "chain_of",
    "check_course",
    "check_decision_rows",
    "course_fingerprint",
    "decision_row_content",
    "decision_row_problem",
    "iter_audit",
    "key_id",
    "keyed_hash",
    "record_hash",
    "seal_decision_row",
    "verify_chain",
]

GENESIS_HASH = "0" * 64
#: The records written before the audit key existed (plain SHA-256, one global chain).
LEGACY_CHAIN = "legacy"
#: The chain of anchor records (each commits to the heads of the chains that grew).
ANCHOR_CHAIN = "anchor"
KEYED = "hmac-sha256"
LEGACY = "sha256"
#: How many problems a report lists (the first one is named in ``problem``).
MAX_PROBLEMS = 50


def chain_of(entity: str, entity_id: str | None, course_id: int | None) -> str:
    """The chain a record belongs to.

    >>> chain_of("event", "12:3", 12), chain_of("user", "alice", None)
    ('course:12', 'user:alice')
    >>> chain_of("audit", None, None)
    'anchor'
    """
    if course_id is not None:
        return f"course:{course_id}"
    if entity == "audit":
        return ANCHOR_CHAIN
    return f"{entity}:{entity_id}"[:128] if entity_id else entity


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


def _record_content(record: AuditRecord) -> dict[str, Any]:
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
    if record.scheme != LEGACY:
        content.update(
            chain=record.chain,
            chain_seq=record.chain_seq,
            scheme=record.scheme,
            key_id=record.key_id,
        )
    return content


def record_hash(prev_hash: str, content: dict[str, Any]) -> str:
    """Plain SHA-256 (hex) of the previous hash and the canonical JSON of the content (the
    legacy scheme, kept to verify the records written before the audit key).

    >>> record_hash(GENESIS_HASH, {"seq": 1})[:12]
    'a453da815121'
    """
    return hashlib.sha256((prev_hash + "\n" + canonical_json(content)).encode("utf-8")).hexdigest()


def keyed_hash(key: bytes, prev_hash: str, content: dict[str, Any]) -> str:
    """HMAC-SHA256 (hex), keyed with the audit key, of the previous hash and the content.

    >>> keyed_hash(b"k" * 32, GENESIS_HASH, {"seq": 1}) != record_hash(GENESIS_HASH, {"seq": 1})
    True
    """
    message = (prev_hash + "\n" + canonical_json(content)).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def key_id(key: bytes) -> str:
    """A short public name of the key (which key made a record), never the key itself."""
    return hmac.new(key, b"inoplan audit key id", hashlib.sha256).hexdigest()[:16]


@functools.lru_cache(maxsize=4)
def _cached_key_id(key: bytes) -> str:
    return key_id(key)


# -- sealed decision rows ------------------------------------------------------------------------

#: The columns of a ``current_decisions`` row that its MAC covers: the course, the day, what the
#: row was computed for, every column the Today list shows and the SHA-256 of the decision JSON
#: (``computed_at`` is not covered: when a row was computed changes nothing the list shows).
DECISION_ROW_COLUMNS = (
    "course_id",
    "as_of",
    "course_version",
    "fingerprint",
    "decision_sha256",
    "status",
    "reason",
    "critical",
    "warnings",
    "critical_codes",
    "rules",
    "reason_rules",
    "next_cycle",
    "next_day",
    "next_scheduled",
    "next_dose_mg",
    "next_dose_mg_per_m2",
)
#: Keeps a row's MAC apart from every audit record's hash under the same key (``prev_hash``).
_DECISION_ROW_DOMAIN = "inoplan current_decisions row v1"


def decision_row_content(columns: Mapping[str, Any]) -> dict[str, Any]:
    """What a decision row's MAC covers, from its columns (as written or as read back)."""
    content = {name: columns[name] for name in DECISION_ROW_COLUMNS}
    on = content["as_of"]
    content["as_of"] = on.isoformat() if isinstance(on, date) else str(on)
    for name in ("next_dose_mg", "next_dose_mg_per_m2"):
        value = content[name]
        content[name] = None if value is None else float(value)
    return content


def seal_decision_row(key: bytes, columns: Mapping[str, Any]) -> str:
    """The row's MAC: :func:`keyed_hash` under the audit key over :func:`decision_row_content`."""
    return keyed_hash(key, _DECISION_ROW_DOMAIN, decision_row_content(columns))


def decision_row_problem(
    key: bytes, columns: Mapping[str, Any], mac: str | None, mac_key_id: str | None
) -> str:
    """Why a stored decision row cannot be trusted ("" when its MAC verifies under ``key``)."""
    if not mac:
        return "the stored decision row carries no MAC (written outside inoplan)"
    if mac_key_id != _cached_key_id(key):
        return (
            f"the stored decision row was sealed with another audit key (key id {mac_key_id}, "
            f"configured {_cached_key_id(key)})"
        )
    if not hmac.compare_digest(seal_decision_row(key, columns), mac):
        return "the stored decision row does not match its MAC (altered in the database)"
    return ""


def check_decision_rows(key: bytes, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """What is wrong with a course's stored decision rows (every column, ``decision`` JSON
    included): a MAC that does not verify, a decision JSON that is not the one sealed."""
    out: list[str] = []
    for row in rows:
        on = row["as_of"]
        where = f"stored decision for {on.isoformat() if isinstance(on, date) else on}"
        problem = decision_row_problem(key, row, row.get("mac"), row.get("mac_key_id"))
        if problem:
            out.append(f"{where}: {problem.removeprefix('the stored decision row ')}")
        elif document_sha256(row["decision"]) != row["decision_sha256"]:
            out.append(f"{where}: its decision JSON differs from the one sealed (altered)")
    return out


def course_fingerprint(
    *,
    label: str,
    has_label: bool,
    label_revision: str,
    start_date: date,
    patient_id: str,
    birth_date: date,
    sex: str,
) -> str:
    """SHA-256 of the course and patient columns not held in the document blocks."""
    return document_sha256(
        {
            "label": label,
            "has_label": has_label,
            "label_revision": label_revision,
            "start_date": start_date.isoformat(),
            "patient": {"id": patient_id, "birth_date": birth_date.isoformat(), "sex": sex},
        }
    )


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
    kept. Only the record's own chain (:func:`chain_of`) is locked. For a record on its own
    (e.g. CDS Hooks feedback)::

        with uow_factory(write=True) as uow:
            append_audit(uow, actor="cds:https://ehr.example.org", action="cds.feedback",
                         entity="card", entity_id=card_uuid, after={"outcome": "accepted"})
            uow.commit()
    """
    key = uow.audit.key()
    when = (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")
    chain = chain_of(entity, entity_id, course_id)
    head_seq, head_hash = uow.audit.lock_chain(chain)
    record = AuditRecord(
        seq=uow.audit.next_seq(),  # after the chain lock: seq grows along each chain
        at=when,
        actor=actor,
        action=action,
        entity=entity,
        entity_id=entity_id,
        course_id=course_id,
        before=before,
        after=after,
        prev_hash=head_hash,
        hash="",
        chain=chain,
        chain_seq=head_seq + 1,
        scheme=KEYED,
        key_id=key_id(key),
    )
    digest = keyed_hash(key, head_hash, _record_content(record))
    record = replace(record, hash=digest)
    uow.audit.insert(record)
    uow.audit.set_chain_head(chain, record.chain_seq, digest)
    return record


# -- anchors -----------------------------------------------------------------------------------


class AnchorHeadJson(TypedDict):
    chain: str
    chain_seq: int
    seq: int
    hash: str
    at: str
    key_id: str | None
    chains_anchored: int
    written: bool
    expect: str


@dataclass(frozen=True, slots=True)
class AnchorHead:
    """The head of the anchor chain: what to keep outside the database."""

    chain_seq: int
    seq: int
    hash: str
    at: str
    key_id: str | None
    chains: int
    written: bool  # False: nothing had grown since the previous anchor

    def as_dict(self) -> AnchorHeadJson:
        """``inoplan audit head --json``: what to keep outside the database."""
        return {
            "chain": ANCHOR_CHAIN,
            "chain_seq": self.chain_seq,
            "seq": self.seq,
            "hash": self.hash,
            "at": self.at,
            "key_id": self.key_id,
            "chains_anchored": self.chains,
            "written": self.written,
            "expect": f"{self.chain_seq}:{self.hash}",
        }


def anchor(uow_factory: UowFactory, *, actor: str = "system") -> AnchorHead:
    """Commit to the head of every chain that grew since the last anchor; return the head.

    Appends one record to the ``anchor`` chain (only anchors wait on each other; writers of
    courses do not wait on an anchor). When nothing grew, the current head is returned as is.
    """
    with uow_factory(write=True) as uow:
        pending = uow.audit.unanchored(ANCHOR_CHAIN)
        if pending:
            record = append_audit(
                uow,
                actor=actor,
                action="audit.anchor",
                entity="audit",
                after={"chains": {c: [s, h] for c, s, h in pending}},
            )
            uow.audit.mark_anchored(pending)
            uow.commit()
            return AnchorHead(
                record.chain_seq,
                record.seq,
                record.hash,
                record.at,
                record.key_id,
                len(pending),
                True,
            )
        records = uow.audit.chain_records(ANCHOR_CHAIN)
    if not records:
        return AnchorHead(0, 0, GENESIS_HASH, "", None, 0, False)
    last = records[-1]
    return AnchorHead(last.chain_seq, last.seq, last.hash, last.at, last.key_id, 0, False)


def parse_expect(text: str) -> tuple[int, str]:
    """``"12:ab34..."`` (what ``inoplan audit head`` prints as ``expect``) -> (12, "ab34...")."""
    seq, _, digest = text.partition(":")
    number = ascii_int(seq)
    if number is None or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError("expected CHAIN_SEQ:HASH as printed by `inoplan audit head`")
    return number, digest


# -- verification ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    checked: int
    first_broken_seq: int | None = None
    problem: str | None = None
    keyed: int = 0
    legacy: int = 0
    chains: int = 0
    courses: int = 0
    events: int = 0
    unanchored: int = 0
    legacy_anchored: bool = False
    problems: tuple[str, ...] = ()
    decision_rows: int = 0

    def message(self) -> str:
        if self.ok:
            text = (
                f"audit trail intact: {self.checked} records in {self.chains} chains "
                f"({self.keyed} keyed HMAC-SHA256"
            )
            if self.legacy:
                state = (
                    "anchored under the key"
                    if self.legacy_anchored
                    else "NOT yet anchored: run `inoplan audit head`"
                )
                text += (
                    f", {self.legacy} legacy plain SHA-256 records written before the audit "
                    f"key ({state})"
                )
            text += (
                f"); {self.courses} courses and {self.events} stored events match their audit "
                f"records; {self.decision_rows} stored decisions match their MAC"
            )
            if self.unanchored:
                text += f"; {self.unanchored} chains have records newer than the last anchor"
            return text
        where = f" at record {self.first_broken_seq}" if self.first_broken_seq else ""
        more = f" (and {len(self.problems) - 1} more problems)" if len(self.problems) > 1 else ""
        return f"audit trail BROKEN{where}: {self.problem}{more}"


class _Walk:
    """The state of one verification pass (records streamed in ``seq`` order)."""

    def __init__(
        self,
        key: bytes,
        heads: Mapping[str, tuple[int, str]],
        claims: Mapping[tuple[str, int], str],
    ) -> None:
        self.key = key
        self.key_id = key_id(key)
        self.heads = heads
        self.claims = dict(claims)
        self.state: dict[str, tuple[int, str]] = {}
        self.problems: list[tuple[int | None, str]] = []
        self.keyed = 0
        self.legacy = 0
        self.created: dict[int, int] = {}  # course id -> seq of its creation record
        self.decision_rows = 0  # stored decision rows checked against their MAC

    def fail(self, seq: int | None, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append((seq, text))

    def check(self, record: AuditRecord) -> None:
        chain = record.chain
        if chain not in self.heads:
            self.fail(record.seq, f"record {record.seq} is in chain {chain!r}, which has no head")
            return
        last_seq, last_hash = self.state.get(chain, (0, GENESIS_HASH))
        self.state[chain] = (record.chain_seq, record.hash)
        if record.chain_seq != last_seq + 1:
            self.fail(
                record.seq,
                f"chain {chain!r}: record {last_seq + 1} is missing or out of order "
                f"(next is {record.chain_seq})",
            )
            return
        if record.prev_hash != last_hash:
            self.fail(
                record.seq,
                f"chain {chain!r} record {record.chain_seq}: prev_hash does not match the "
                "previous record's hash",
            )
            return
        content = _record_content(record)
        if record.scheme == LEGACY:
            if chain != LEGACY_CHAIN or record.seq != record.chain_seq:
                self.fail(record.seq, f"an unkeyed record in chain {chain!r} (not legacy)")
                return
            digest = record_hash(last_hash, content)
            self.legacy += 1
        elif record.scheme == KEYED:
            if record.key_id != self.key_id:
                self.fail(
                    record.seq,
                    f"record {record.seq} was keyed with another audit key (key id "
                    f"{record.key_id}, configured {self.key_id})",
                )
                return
            digest = keyed_hash(self.key, last_hash, content)
            self.keyed += 1
        else:
            self.fail(record.seq, f"record {record.seq} has an unknown scheme {record.scheme!r}")
            return
        if not hmac.compare_digest(digest, record.hash):
            self.fail(record.seq, f"record {record.seq}: content does not match its hash (altered)")
            return
        if record.action == "course.create" and record.course_id is not None:
            self.created[record.course_id] = record.seq
        claimed = self.claims.pop((chain, record.chain_seq), None)
        if claimed is not None and claimed != record.hash:
            self.fail(record.seq, f"record {record.seq} differs from what an anchor committed to")

    def finish(self) -> None:
        for chain, (head_seq, head_hash) in sorted(self.heads.items()):
            found_seq, found_hash = self.state.get(chain, (0, GENESIS_HASH))
            if found_seq != head_seq:
                self.fail(
                    None,
                    f"chain {chain!r}: its head says {head_seq} records but {found_seq} are "
                    "present (records removed from the end, or the head was altered)",
                )
            elif found_hash != head_hash:
                self.fail(
                    None, f"chain {chain!r}: the head's hash does not match its newest record"
                )
        for (chain, seq), _ in sorted(self.claims.items()):
            self.fail(
                None,
                f"chain {chain!r} record {seq} was committed to by an anchor but is missing "
                "(removed)",
            )


def _claims(anchors: Sequence[AuditRecord]) -> dict[tuple[str, int], str]:
    claims: dict[tuple[str, int], str] = {}
    for record in anchors:
        if record.action != "audit.anchor" or not isinstance(record.after, Mapping):
            continue
        for chain, value in (record.after.get("chains") or {}).items():
            if isinstance(value, list) and len(value) == 2:
                claims[(str(chain), int(value[0]))] = str(value[1])
    return claims


def verify_chain(
    uow_factory: UowFactory,
    *,
    expect: tuple[int, str] | None = None,
    data: bool = True,
    batch: int = 1000,
) -> ChainReport:
    """Verify every chain, the anchors, and (``data``) every course and event against its audit.

    Everything is read from one snapshot (records appended meanwhile are not part of the
    check). ``expect``: an anchor head exported earlier (``chain_seq``, ``hash``) that must
    still be in the anchor chain.
    """
    with uow_factory() as uow:
        uow.audit.snapshot()
        key = uow.audit.key()
        heads = uow.audit.chain_heads()
        anchors = uow.audit.chain_records(ANCHOR_CHAIN)
        claims = _claims(anchors)
        walk = _Walk(key, heads, claims)
        after = 0
        checked = 0
        while True:
            chunk = list(uow.audit.after(after, limit=batch))
            if not chunk:
                break
            for record in chunk:
                walk.check(record)
                checked += 1
            after = chunk[-1].seq
        walk.finish()
        if expect is not None:
            _check_expected(walk, anchors, expect)
        legacy_anchored = _check_legacy(walk, heads, claims)
        courses = events = 0
        if data:
            courses, events = _check_data(uow, walk, batch)
        anchored = {c: int(v[0]) for c, v in _latest_claims(anchors).items()}
    unanchored = sum(
        1 for c, (s, _) in heads.items() if c != ANCHOR_CHAIN and anchored.get(c, 0) < s
    )
    problems = tuple(text for _, text in walk.problems)
    first = walk.problems[0] if walk.problems else (None, None)
    return ChainReport(
        ok=not problems,
        checked=checked,
        first_broken_seq=first[0],
        problem=first[1],
        keyed=walk.keyed,
        legacy=walk.legacy,
        chains=len(heads),
        courses=courses,
        events=events,
        unanchored=unanchored,
        legacy_anchored=legacy_anchored,
        problems=problems,
        decision_rows=walk.decision_rows,
    )


def _latest_claims(anchors: Sequence[AuditRecord]) -> dict[str, list[Any]]:
    latest: dict[str, list[Any]] = {}
    for record in anchors:
        if record.action == "audit.anchor" and isinstance(record.after, Mapping):
            for chain, value in (record.after.get("chains") or {}).items():
                latest[str(chain)] = list(value)
    return latest


def _check_expected(walk: _Walk, anchors: Sequence[AuditRecord], expect: tuple[int, str]) -> None:
    seq, digest = expect
    found = next((r for r in anchors if r.chain_seq == seq), None)
    if found is None:
        walk.fail(
            None, f"the exported anchor head {seq} is no longer in the anchor chain (removed)"
        )
    elif not hmac.compare_digest(found.hash, digest):
        walk.fail(found.seq, f"anchor {seq} differs from the head exported earlier (rewritten)")


def _check_legacy(
    walk: _Walk, heads: Mapping[str, tuple[int, str]], claims: Mapping[tuple[str, int], str]
) -> bool:
    """The legacy chain never grows: once anchored, its head must be the anchored one."""
    if LEGACY_CHAIN not in heads:
        return False
    anchored = [seq for chain, seq in claims if chain == LEGACY_CHAIN]
    if not anchored:
        return False
    if max(anchored) != heads[LEGACY_CHAIN][0]:
        walk.fail(None, "the legacy segment changed after it was anchored")
    return True


def _check_data(uow: UnitOfWork, walk: _Walk, batch: int) -> tuple[int, int]:
    """Every course row and stored event against the audit records that wrote them."""
    courses = events = 0
    seen: set[int] = set()
    after = 0
    while True:
        ids = uow.courses.ids_after(after, limit=batch)
        if not ids:
            break
        for course_id in ids:
            course = uow.courses.get(course_id)
            patient = uow.patients.get_by_external(course.patient_external_id)
            stored = uow.courses.stored_events(course_id)
            audit = uow.audit.for_course(course_id)
            first = next((r.seq for r in audit if r.action == "course.create"), None)
            for text in check_course(course, patient, stored, audit):
                walk.fail(first, f"course {course_id}: {text}")
            days = uow.treatment_days.for_courses([course_id])
            for seq, text in check_treatment_days(days, audit):
                walk.fail(seq if seq is not None else first, f"course {course_id}: {text}")
            sealed = uow.current_decisions.for_course(course_id)
            for text in check_decision_rows(walk.key, sealed):
                walk.fail(first, f"course {course_id}: {text}")
            walk.decision_rows += len(sealed)
            booked = uow.appointments.for_courses([course_id])
            for seq, text in check_appointments(booked, audit):
                walk.fail(seq if seq is not None else first, f"course {course_id}: {text}")
            seen.add(course_id)
            courses += 1
            events += len(stored)
        after = ids[-1]
    for course_id, seq in sorted(walk.created.items()):
        if course_id not in seen:
            walk.fail(seq, f"course {course_id} was created (audit record {seq}) but is missing")
    return courses, events


def check_course(
    course: Any,
    patient: Any,
    stored: Sequence[Mapping[str, Any]],
    audit: Sequence[AuditRecord],
) -> list[str]:
    """What in a course's rows and events disagrees with its audit records (pure).

    ``course`` is a ``CourseRecord``, ``patient`` a ``PatientRecord`` (or None), ``stored`` the
    event rows by position, ``audit`` the course's audit records.
    """
    out: list[str] = []
    created = [r for r in audit if r.action == "course.create"]
    if len(created) != 1:
        return [f"{len(created)} creation records in the audit trail (expected 1)"]
    create = created[0]
    after = create.after or {}
    initial = int(after.get("events", 0))
    appended = {
        int(str(r.entity_id).rsplit(":", 1)[1]): r
        for r in audit
        if r.entity == "event" and r.action.startswith("event.") and r.entity_id
    }
    datas = [row["data"] for row in stored]
    document = assemble_document(course, datas[:initial])
    candidates = [document_sha256(document)]
    if not initial:  # legacy records hashed the document as given, perhaps without "events"
        candidates.append(document_sha256({k: v for k, v in document.items() if k != "events"}))
    if after.get("document_sha256") not in candidates:
        out.append("the stored course document (as created) does not match its creation record")
    fingerprint = after.get("stored_sha256")
    if fingerprint is not None:
        now = course_fingerprint(
            label=course.label,
            has_label=course.has_label,
            label_revision=course.label_revision,
            start_date=course.start_date,
            patient_id=course.patient_external_id,
            birth_date=patient.birth_date if patient is not None else date.min,
            sex=patient.sex if patient is not None else "",
        )
        if now != fingerprint:
            out.append("the course or patient row does not match its creation record")
    for row in stored:
        position = int(row["position"])
        data = row["data"]
        where = f"event {position}"
        if position < initial:
            actor = create.actor
        else:
            record = appended.get(position)
            if record is None:
                out.append(f"{where} has no audit record (inserted outside inoplan)")
                continue
            actor = record.actor
            if canonical_json((record.after or {}).get("event")) != canonical_json(data):
                out.append(f"{where} differs from what its audit record {record.seq} recorded")
        if not _columns_match(row, data):
            out.append(f"{where}: its columns disagree with its recorded JSON")
        if row["recorded_by"] != actor:
            out.append(f"{where}: recorded_by differs from the audit record's actor")
    positions = {int(row["position"]) for row in stored}
    if sorted(positions) != list(range(len(stored))):
        out.append("event positions are not 0, 1, 2, ... (an event was removed)")
    for position, record in sorted(appended.items()):
        if position not in positions:
            out.append(f"event {position} (audit record {record.seq}) is missing (removed)")
    if course.version != 1 + len(appended):
        out.append(f"version {course.version} does not match the {len(appended)} events appended")
    if course.event_count != len(stored):
        out.append(f"event_count {course.event_count} but {len(stored)} events are stored")
    return out


_DAY_KEYS = frozenset({"cycle", "day", "state", "from", "earlier"})


def _step_of(record: Any) -> str:
    """A step's record without the keys the audit record or the row add around it."""
    if not isinstance(record, Mapping):
        return canonical_json(record)
    return canonical_json({k: v for k, v in record.items() if k not in _DAY_KEYS})


def check_appointments(
    booked: Sequence[Any], audit: Sequence[AuditRecord]
) -> list[tuple[int | None, str]]:
    """What in a course's ``appointments`` rows disagrees with its ``appointment.*`` audit
    records (pure): each booking's time, note, version and writer must be the newest record's,
    and a booking whose last record is a cancellation (or that has none) must not exist."""
    records: dict[tuple[int, int], list[AuditRecord]] = {}
    for record in sorted(audit, key=lambda r: r.seq):
        if record.entity != "appointment" or not record.action.startswith("appointment."):
            continue
        _, cycle_text, day_text = str(record.entity_id).rsplit(":", 2)
        records.setdefault((int(cycle_text), int(day_text)), []).append(record)
    out: list[tuple[int | None, str]] = []
    for row in booked:
        where = f"booking of cycle {row.cycle} day {row.day}"
        history = records.pop((row.cycle, row.day), [])
        last = history[-1] if history else None
        if last is None or last.action != "appointment.book":
            seq = None if last is None else last.seq
            out.append((seq, f"{where} has no audit record (written outside inoplan)"))
            continue
        after = last.after or {}
        stored = {
            "starts_at": row.starts_at.astimezone(UTC).isoformat(timespec="minutes"),
            "note": row.note,
            "version": row.version,
        }
        recorded = {k: after.get(k) for k in stored}
        if stored != recorded or row.updated_by != last.actor:
            out.append((last.seq, f"{where} differs from audit record {last.seq}"))
    for (cycle, day), history in sorted(records.items()):
        if history[-1].action == "appointment.book":
            out.append(
                (
                    history[-1].seq,
                    f"booking of cycle {cycle} day {day} (audit record {history[-1].seq}) is "
                    "missing (removed)",
                )
            )
    return out


def check_treatment_days(
    days: Sequence[Any], audit: Sequence[AuditRecord]
) -> list[tuple[int | None, str]]:
    """What in a course's ``treatment_days`` rows disagrees with its ``dose.*`` audit records
    (pure): the workflow writes one audit record per step, in the row's transaction, so each
    row's state, version, last writer and the step it records must be the newest record's, and
    every day with records must have its row. Returns (audit seq or None, problem)."""
    records: dict[tuple[int, int], list[AuditRecord]] = {}
    for record in sorted(audit, key=lambda r: r.seq):
        if record.entity != "treatment_day" or not record.action.startswith("dose."):
            continue
        _, cycle_text, day_text = str(record.entity_id).rsplit(":", 2)
        records.setdefault((int(cycle_text), int(day_text)), []).append(record)
    out: list[tuple[int | None, str]] = []
    for row in days:
        where = f"treatment day cycle {row.cycle} day {row.day}"
        history = records.pop((row.cycle, row.day), [])
        if not history:
            out.append((None, f"{where} has no audit record (written outside inoplan)"))
            continue
        last = history[-1]
        after = last.after or {}
        if row.state != after.get("state"):
            out.append(
                (
                    last.seq,
                    f"{where}: state {row.state!r} but audit record {last.seq} "
                    f"recorded {after.get('state')!r}",
                )
            )
        if row.version != len(history):
            out.append(
                (last.seq, f"{where}: version {row.version} but {len(history)} steps were recorded")
            )
        if row.updated_by != last.actor:
            out.append((last.seq, f"{where}: updated_by differs from audit record {last.seq}"))
        steps = row.steps or {}
        if last.action == "dose.withdraw":
            withdrawn = steps.get("withdrawn") or [None]
            step = withdrawn[-1]
        else:
            step = steps.get(row.state)
        if _step_of(step) != _step_of(after):
            out.append(
                (last.seq, f"{where}: the recorded step differs from audit record {last.seq}")
            )
    for (cycle, day), history in sorted(records.items()):
        out.append(
            (
                history[-1].seq,
                f"treatment day cycle {cycle} day {day} (audit record "
                f"{history[-1].seq}) is missing (removed)",
            )
        )
    return out


def _columns_match(row: Mapping[str, Any], data: Any) -> bool:
    if not isinstance(data, Mapping):
        return False
    on = row["date"]
    return (
        row["type"] == str(data.get("type"))
        and (on.isoformat() if isinstance(on, date) else str(on)) == str(data.get("date"))
        and row["event_id"] == data.get("id")
        and row["supersedes"] == data.get("supersedes")
        and row["reason"] == data.get("reason")
    )


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
