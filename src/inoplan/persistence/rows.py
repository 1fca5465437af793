"""Typed SQLAlchemy rows. Events, decisions and audit records are append-only.

The schema itself is created by the Alembic migrations in ``persistence/migrations``; these
classes must stay in step with them (a test compares the two).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "AcknowledgementRow",
    "AuditAnchoredRow",
    "AuditChainRow",
    "AuditRow",
    "Base",
    "CdsJtiRow",
    "CourseRow",
    "CurrentDecisionRow",
    "DecisionRow",
    "EventRow",
    "InboundMessageRow",
    "LoginThrottleRow",
    "PatientRow",
    "TreatmentDayRow",
    "UserRow",
]


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC instants on every backend (SQLite keeps no offset: it is added back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store timezone-aware UTC instants")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# BigInteger primary keys that still autoincrement on SQLite (which only does so for INTEGER).
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class PatientRow(Base):
    """A patient, known by the clinic's own opaque identifier (never a name)."""

    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class CourseRow(Base):
    """One course. ``version`` counts writes: 1 at creation, +1 per appended event."""

    __tablename__ = "courses"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("patients.id"), index=True)
    label: Mapped[str] = mapped_column(String(32))  # as written in the document ("us")
    label_revision: Mapped[str] = mapped_column(String(32))  # resolved at creation
    patient_doc: Mapped[dict[str, Any]] = mapped_column(JSON)  # the patient block as given
    plan_doc: Mapped[dict[str, Any]] = mapped_column(JSON)  # the plan block as given
    has_label: Mapped[bool] = mapped_column(Boolean, default=True)  # was "label" given?
    version: Mapped[int] = mapped_column(Integer)
    event_count: Mapped[int] = mapped_column(Integer)
    start_date: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class EventRow(Base):
    """One event exactly as recorded. Never updated or deleted; corrections supersede."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("course_id", "position", name="uq_events_course_position"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    course_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("courses.id"))
    position: Mapped[int] = mapped_column(Integer)  # 0-based order in the document
    event_id: Mapped[str | None] = mapped_column(String(64))  # the document's own "id"
    type: Mapped[str] = mapped_column(String(32))
    on: Mapped[date] = mapped_column("date", Date)
    supersedes: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)  # the event as given
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    recorded_by: Mapped[str] = mapped_column(String(64))


class DecisionRow(Base):
    """A decision as shown to someone: the full JSON, what it was computed from, who, when."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    course_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("courses.id"), index=True)
    course_version: Mapped[int] = mapped_column(Integer)
    as_of: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(32))
    label_revision: Mapped[str] = mapped_column(String(32))
    engine_version: Mapped[str] = mapped_column(String(32))
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    decision: Mapped[dict[str, Any]] = mapped_column(JSON)
    shown_at: Mapped[datetime] = mapped_column(UtcDateTime())
    shown_to: Mapped[str] = mapped_column(String(64))


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    #: Carried by every token and web session; raising it revokes them all (every worker).
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class AuditRow(Base):
    """One audit record in its chain (``inoplan.services.audit``).

    ``hash`` = HMAC-SHA256 (keyed, ``scheme`` ``hmac-sha256``) or, for the records written
    before the audit key existed (chain ``legacy``, ``scheme`` ``sha256``), plain SHA-256 over
    ``prev_hash`` and the record's content. ``seq`` orders all records; ``chain_seq`` counts the
    records of one chain (1, 2, 3, ... without gaps).
    """

    __tablename__ = "audit_records"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)  # 1, 2, 3, ... without gaps
    at: Mapped[str] = mapped_column(String(40))  # ISO 8601 UTC text, hashed as stored
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    course_id: Mapped[int | None] = mapped_column(BigInteger)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    chain: Mapped[str] = mapped_column(String(128), server_default="legacy")
    chain_seq: Mapped[int] = mapped_column(BigInteger, server_default="0")
    scheme: Mapped[str] = mapped_column(String(16), server_default="sha256")
    key_id: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (
        Index("ix_audit_records_course_id", "course_id"),
        Index("uq_audit_records_chain_seq", "chain", "chain_seq", unique=True),
    )


class AuditChainRow(Base):
    """The head (newest record) of one audit chain: a course, a user, the anchors, legacy.

    An append locks only its own chain's row, so writes to different courses never wait on
    each other.
    """

    __tablename__ = "audit_chains"

    chain: Mapped[str] = mapped_column(String(128), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)  # chain_seq of the newest record
    hash: Mapped[str] = mapped_column(String(64))


class AuditAnchoredRow(Base):
    """How far each chain is committed to by an anchor record (only the anchorer writes it)."""

    __tablename__ = "audit_anchored"

    chain: Mapped[str] = mapped_column(String(128), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)


class CdsJtiRow(Base):
    """A JWT id seen from a CDS Hooks client, kept until it expires (replay protection)."""

    __tablename__ = "cds_jti"
    __table_args__ = (UniqueConstraint("iss", "jti", name="uq_cds_jti_iss_jti"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    iss: Mapped[str] = mapped_column(String(512))
    jti: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class InboundMessageRow(Base):
    """A result message received (HL7 v2 or FHIR): kept for idempotency, review and audit.

    ``dedupe_key`` (SHA-256 of channel, sender and message control id) is unique: the same
    message sent twice, or to two workers at once, is stored once. ``raw`` holds the message
    for the people who resolve a parked one (never logged); it is emptied for messages that
    carry nothing inoplan uses.
    """

    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_inbound_messages_dedupe_key"),
        Index("ix_inbound_messages_state", "state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(8))  # "hl7" | "fhir"
    sender: Mapped[str] = mapped_column(String(255))
    control_id: Mapped[str] = mapped_column(String(255))
    content_sha256: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    version: Mapped[str] = mapped_column(String(16))
    # processing | applied | parked | rejected | ignored | resolved | discarded
    state: Mapped[str] = mapped_column(String(16))
    ack_code: Mapped[str] = mapped_column(String(2))
    raw: Mapped[str] = mapped_column(Text)
    results: Mapped[list[Any]] = mapped_column(JSON)  # per patient: identifiers, results
    problems: Mapped[list[Any]] = mapped_column(JSON)
    notes: Mapped[list[Any]] = mapped_column(JSON)
    event_ids: Mapped[list[Any]] = mapped_column(JSON)
    course_id: Mapped[int | None] = mapped_column(BigInteger)
    decision_status: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolution: Mapped[str | None] = mapped_column(Text)


class LoginThrottleRow(Base):
    """Failed logins of one account, client address or device (the key is a SHA-256 digest)."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # account | address | device
    failures: Mapped[int] = mapped_column(Integer)
    last_failure_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    blocked_until: Mapped[datetime | None] = mapped_column(UtcDateTime())


class AcknowledgementRow(Base):
    """A prescriber acknowledged a course's decision to stop (append-only, audited)."""

    __tablename__ = "acknowledgements"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    course_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("courses.id"), index=True)
    course_version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))  # the decision status acknowledged
    rules: Mapped[list[Any]] = mapped_column(JSON)  # the rules that decided it
    as_of: Mapped[date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    acknowledged_at: Mapped[datetime] = mapped_column(UtcDateTime())
    acknowledged_by: Mapped[str] = mapped_column(String(64))


class TreatmentDayRow(Base):
    """The state of one dose of a course (``inoplan.services.workflow``); a dose without a row
    is "ordered". ``version`` counts transitions (compare-and-set); ``steps`` what each recorded."""

    __tablename__ = "treatment_days"
    __table_args__ = (
        UniqueConstraint("course_id", "cycle", "day", name="uq_treatment_days_course_day"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    course_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("courses.id"), index=True)
    cycle: Mapped[int] = mapped_column(Integer)
    day: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    steps: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_by: Mapped[str] = mapped_column(String(64))


class AppointmentRow(Base):
    """The clinic's booked time for one dose (``inoplan.services.appointments``); ``version``
    counts changes (compare-and-set)."""

    __tablename__ = "appointments"
    __table_args__ = (
        UniqueConstraint("course_id", "cycle", "day", name="uq_appointments_course_day"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    course_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("courses.id"), index=True)
    cycle: Mapped[int] = mapped_column(Integer)
    day: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_by: Mapped[str] = mapped_column(String(64))


class CurrentDecisionRow(Base):
    """A course's decision for one day, stored when the course or its day changes.

    Derived data (``inoplan.services.decisions``): valid only while ``course_version`` is the
    course's version and ``fingerprint`` is the running knowledge, engine and site policy; any
    other row is stale and recomputed, never served. Upserts keep the newest course version.
    Each row is sealed with a MAC under the audit key (``decision_store.seal``); a row whose MAC
    does not verify is recomputed and raises ``DECISION_ROW_TAMPERED``.
    """

    __tablename__ = "current_decisions"
    __table_args__ = (
        PrimaryKeyConstraint("course_id", "as_of", name="pk_current_decisions"),
        Index("ix_current_decisions_as_of", "as_of"),
    )

    course_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("courses.id"))
    as_of: Mapped[date] = mapped_column(Date)
    course_version: Mapped[int] = mapped_column(Integer)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    # what the Today list shows, as plain columns (no JSON to decode per listed course)
    reason: Mapped[str] = mapped_column(Text)
    critical: Mapped[int] = mapped_column(Integer)
    warnings: Mapped[int] = mapped_column(Integer)
    critical_codes: Mapped[str] = mapped_column(Text)  # alert codes, comma-separated
    rules: Mapped[str] = mapped_column(Text)  # the deciding rules, comma-separated
    reason_rules: Mapped[str] = mapped_column(Text)  # every reason's rule, in order
    next_cycle: Mapped[int | None] = mapped_column(Integer)
    next_day: Mapped[int | None] = mapped_column(Integer)
    next_scheduled: Mapped[str | None] = mapped_column(String(10))  # ISO date
    next_dose_mg: Mapped[float | None] = mapped_column(Float)
    next_dose_mg_per_m2: Mapped[float | None] = mapped_column(Float)
    decision: Mapped[dict[str, Any]] = mapped_column(JSON)  # the full decision JSON
    computed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # the seal (migration 0008): SHA-256 of ``decision``, the audit key's id, and the MAC under
    # it over the row's content (``decision_store.seal``); NULL only in a row written outside
    # inoplan (the migration deleted the unsealed rows)
    decision_sha256: Mapped[str | None] = mapped_column(String(64))
    mac_key_id: Mapped[str | None] = mapped_column(String(16))
    mac: Mapped[str | None] = mapped_column(String(64))
