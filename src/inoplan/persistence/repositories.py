"""SQL repositories. They return plain records (``inoplan.services.records``), never rows."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from inoplan.persistence.rows import (
    AcknowledgementRow,
    AppointmentRow,
    AuditAnchoredRow,
    AuditChainRow,
    AuditRow,
    CourseRow,
    CurrentDecisionRow,
    DecisionRow,
    EventRow,
    InboundMessageRow,
    PatientRow,
    TreatmentDayRow,
    UserRow,
)
from inoplan.services.appointments import Appointment
from inoplan.services.decision_store import (
    DECISION_ROW_COLUMNS,
    SUMMARY_COLUMNS,
    summary_of,
)
from inoplan.services.records import (
    AcknowledgementRecord,
    AuditRecord,
    CourseRecord,
    DecisionRecord,
    EventRecord,
    PatientRecord,
    StoredDecision,
    UserRecord,
)

__all__ = [
    "SqlAcknowledgements",
    "SqlAudit",
    "SqlCourses",
    "SqlCurrentDecisions",
    "SqlDecisions",
    "SqlInbound",
    "SqlPatients",
    "SqlTreatmentDays",
    "SqlUsers",
]


_MAX_ID = 2**63 - 1  # BIGINT
#: The first key of the Today refresh's advisory locks (the second is the day's ordinal):
#: "inop" as a 32-bit integer, so that no other advisory lock of the database shares it.
_DAY_LOCK_SPACE = 0x696E6F70


def _course(row: CourseRow, external_id: str) -> CourseRecord:
    return CourseRecord(
        id=row.id,
        version=row.version,
        label=row.label,
        has_label=row.has_label,
        label_revision=row.label_revision,
        patient_external_id=external_id,
        patient_doc=row.patient_doc,
        plan_doc=row.plan_doc,
        event_count=row.event_count,
        start_date=row.start_date,
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
    )


class SqlPatients:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, patient_id: int) -> PatientRecord:
        row = self._session.get_one(PatientRow, patient_id)
        return PatientRecord(row.id, row.external_id, row.birth_date, row.sex)

    def get_by_key(self, key: int) -> PatientRecord | None:
        """The patient with this opaque row id (what URLs carry instead of the clinic's id)."""
        if not 0 < key <= _MAX_ID:
            return None
        row = self._session.get(PatientRow, key)
        return None if row is None else self._with_courses(row)

    def get_by_external(self, external_id: str) -> PatientRecord | None:
        row = self._session.scalars(
            select(PatientRow).where(PatientRow.external_id == external_id)
        ).first()
        if row is None:
            return None
        return self._with_courses(row)

    def _with_courses(self, row: PatientRow) -> PatientRecord:
        course_ids = self._session.scalars(
            select(CourseRow.id).where(CourseRow.patient_id == row.id).order_by(CourseRow.id)
        ).all()
        return PatientRecord(row.id, row.external_id, row.birth_date, row.sex, tuple(course_ids))

    def get_or_add(self, *, external_id: str, birth_date: date, sex: str, at: datetime) -> int:
        query = select(PatientRow.id).where(PatientRow.external_id == external_id)
        found = self._session.scalars(query).first()
        if found is not None:
            return found
        try:
            with self._session.begin_nested():  # a concurrent insert of the same id may win
                row = PatientRow(
                    external_id=external_id, birth_date=birth_date, sex=sex, created_at=at
                )
                self._session.add(row)
                self._session.flush()
                return row.id
        except IntegrityError:
            return self._session.scalars(query).one()

    def list(self, *, offset: int, limit: int) -> tuple[list[PatientRecord], int]:
        count = self._session.scalar(select(func.count()).select_from(PatientRow)) or 0
        rows = self._session.scalars(
            select(PatientRow).order_by(PatientRow.id).offset(offset).limit(limit)
        ).all()
        ids = [r.id for r in rows]
        by_patient: dict[int, list[int]] = {i: [] for i in ids}
        if ids:
            for pid, cid in self._session.execute(
                select(CourseRow.patient_id, CourseRow.id)
                .where(CourseRow.patient_id.in_(ids))
                .order_by(CourseRow.id)
            ):
                by_patient[pid].append(cid)
        return [
            PatientRecord(r.id, r.external_id, r.birth_date, r.sex, tuple(by_patient[r.id]))
            for r in rows
        ], count


class SqlCourses:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(
        self,
        *,
        patient_id: int,
        label: str,
        has_label: bool,
        label_revision: str,
        patient_doc: dict[str, Any],
        plan_doc: dict[str, Any],
        start_date: date,
        event_count: int,
        at: datetime,
        by: str,
    ) -> int:
        row = CourseRow(
            patient_id=patient_id,
            label=label,
            has_label=has_label,
            label_revision=label_revision,
            patient_doc=patient_doc,
            plan_doc=plan_doc,
            version=1,
            event_count=event_count,
            start_date=start_date,
            created_at=at,
            created_by=by,
            updated_at=at,
        )
        self._session.add(row)
        self._session.flush()
        return row.id

    def get(self, course_id: int) -> CourseRecord | None:
        if not 0 < course_id <= _MAX_ID:  # no such row; and the driver would overflow
            return None
        found = self._session.execute(
            select(CourseRow, PatientRow.external_id)
            .join(PatientRow, PatientRow.id == CourseRow.patient_id)
            .where(CourseRow.id == course_id)
            .execution_options(populate_existing=True)
        ).first()
        return None if found is None else _course(found[0], found[1])

    def bump_version(self, course_id: int, expected: int, *, at: datetime) -> bool:
        """``UPDATE ... SET version = version + 1 WHERE id = :id AND version = :expected``.

        Takes the row lock on PostgreSQL (a concurrent writer with the same version waits, then
        matches no row) and the database write lock on SQLite; True if this writer won.
        """
        if not 0 < course_id <= _MAX_ID:
            return False
        result = self._session.execute(
            update(CourseRow)
            .where(CourseRow.id == course_id, CourseRow.version == expected)
            .values(
                version=CourseRow.version + 1,
                event_count=CourseRow.event_count + 1,
                updated_at=at,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def add_event(
        self, course_id: int, position: int, data: dict[str, Any], *, at: datetime, by: str
    ) -> None:
        self._session.execute(
            insert(EventRow).values(
                course_id=course_id,
                position=position,
                event_id=data.get("id"),
                type=str(data.get("type")),
                on=date.fromisoformat(str(data["date"])),
                supersedes=data.get("supersedes"),
                reason=data.get("reason"),
                data=data,
                recorded_at=at,
                recorded_by=by,
            )
        )

    def many(self, course_ids: list[int]) -> list[tuple[CourseRecord, list[EventRecord]]]:
        """Courses with their events, in two statements whatever their number (ordered by id)."""
        if not course_ids:
            return []
        rows = self._session.execute(
            select(CourseRow, PatientRow.external_id)
            .join(PatientRow, PatientRow.id == CourseRow.patient_id)
            .where(CourseRow.id.in_(course_ids))
            .order_by(CourseRow.id)
            .execution_options(populate_existing=True)
        ).all()
        events: dict[int, list[EventRecord]] = {int(r[0].id): [] for r in rows}
        for course_id, position, data, at, by in self._session.execute(
            select(
                EventRow.course_id,
                EventRow.position,
                EventRow.data,
                EventRow.recorded_at,
                EventRow.recorded_by,
            )
            .where(EventRow.course_id.in_(list(events)))
            .order_by(EventRow.course_id, EventRow.position)
        ):
            events[course_id].append(EventRecord(course_id, position, data, at, by))
        return [(_course(r[0], r[1]), events[r[0].id]) for r in rows]

    def events(self, course_id: int, *, start: int = 0) -> list[EventRecord]:
        """The course's events by position (from ``start`` on)."""
        query = select(
            EventRow.position, EventRow.data, EventRow.recorded_at, EventRow.recorded_by
        ).where(EventRow.course_id == course_id)
        if start:
            query = query.where(EventRow.position >= start)
        rows = self._session.execute(query.order_by(EventRow.position)).all()
        return [EventRecord(course_id, r[0], r[1], r[2], r[3]) for r in rows]

    def ids_after(self, course_id: int, *, limit: int) -> list[int]:
        """Course ids above ``course_id``, ascending (for walking every course in batches)."""
        return list(
            self._session.scalars(
                select(CourseRow.id)
                .where(CourseRow.id > course_id)
                .order_by(CourseRow.id)
                .limit(limit)
            ).all()
        )

    def stored_events(self, course_id: int) -> list[dict[str, Any]]:
        """Every column of the course's event rows, by position (what ``audit verify`` checks)."""
        rows = self._session.scalars(
            select(EventRow).where(EventRow.course_id == course_id).order_by(EventRow.position)
        ).all()
        return [
            {
                "position": r.position,
                "event_id": r.event_id,
                "type": r.type,
                "date": r.on,
                "supersedes": r.supersedes,
                "reason": r.reason,
                "data": r.data,
                "recorded_at": r.recorded_at,
                "recorded_by": r.recorded_by,
            }
            for r in rows
        ]

    def list(
        self,
        *,
        offset: int,
        limit: int,
        patient: str | None = None,
        patient_key: int | None = None,
    ) -> tuple[list[CourseRecord], int]:
        base = select(CourseRow, PatientRow.external_id).join(
            PatientRow, PatientRow.id == CourseRow.patient_id
        )
        counter = select(func.count()).select_from(CourseRow)
        if patient_key is not None:
            base = base.where(CourseRow.patient_id == patient_key)
            counter = counter.where(CourseRow.patient_id == patient_key)
        if patient is not None:
            base = base.where(PatientRow.external_id == patient)
            counter = counter.join(PatientRow, PatientRow.id == CourseRow.patient_id).where(
                PatientRow.external_id == patient
            )
        count = self._session.scalar(counter) or 0
        rows = self._session.execute(base.order_by(CourseRow.id).offset(offset).limit(limit)).all()
        return [_course(r[0], r[1]) for r in rows], count


class SqlDecisions:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(
        self,
        *,
        course_id: int,
        course_version: int,
        as_of: date,
        status: str,
        label_revision: str,
        engine_version: str,
        inputs: dict[str, Any],
        decision: dict[str, Any],
        at: datetime,
        by: str,
    ) -> int:
        row = DecisionRow(
            course_id=course_id,
            course_version=course_version,
            as_of=as_of,
            status=status,
            label_revision=label_revision,
            engine_version=engine_version,
            inputs=inputs,
            decision=decision,
            shown_at=at,
            shown_to=by,
        )
        self._session.add(row)
        self._session.flush()
        return row.id

    def for_course(self, course_id: int) -> list[DecisionRecord]:
        rows = self._session.scalars(
            select(DecisionRow).where(DecisionRow.course_id == course_id).order_by(DecisionRow.id)
        ).all()
        return [
            DecisionRecord(
                id=r.id,
                course_id=r.course_id,
                course_version=r.course_version,
                as_of=r.as_of,
                status=r.status,
                label_revision=r.label_revision,
                engine_version=r.engine_version,
                shown_at=r.shown_at,
                shown_to=r.shown_to,
                inputs=r.inputs,
                decision=r.decision,
            )
            for r in rows
        ]


def _user(row: UserRow) -> UserRecord:
    return UserRecord(
        row.id,
        row.username,
        row.role,
        row.active,
        row.password_hash,
        row.created_at,
        row.session_generation,
    )


class SqlUsers:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, username: str) -> UserRecord | None:
        row = self._session.scalars(select(UserRow).where(UserRow.username == username)).first()
        return None if row is None else _user(row)

    def add(self, *, username: str, password_hash: str, role: str, at: datetime) -> UserRecord:
        row = UserRow(
            username=username, password_hash=password_hash, role=role, active=True, created_at=at
        )
        self._session.add(row)
        self._session.flush()
        return _user(row)

    def all(self) -> list[UserRecord]:
        return [_user(r) for r in self._session.scalars(select(UserRow).order_by(UserRow.id))]

    def lock(self, username: str) -> UserRecord | None:
        """The user, row locked until commit (``SELECT ... FOR UPDATE``)."""
        row = self._session.scalars(
            select(UserRow)
            .where(UserRow.username == username)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).first()
        return None if row is None else _user(row)

    def update(self, username: str, **values: object) -> None:
        """Set columns (``role``, ``active``, ``password_hash``) and raise the session
        generation in the same statement: every token and web session of the user is revoked."""
        allowed = {"role", "active", "password_hash"}
        if not set(values) <= allowed:
            raise ValueError(f"unknown user columns: {sorted(set(values) - allowed)}")
        self._session.execute(
            update(UserRow)
            .where(UserRow.username == username)
            .values(session_generation=UserRow.session_generation + 1, **values)
            .execution_options(synchronize_session=False)
        )

    def count_active(self, role: str) -> int:
        query = select(func.count()).select_from(UserRow)
        return self._session.scalar(query.where(UserRow.role == role, UserRow.active)) or 0

    def count(self) -> int:
        return self._session.scalar(select(func.count()).select_from(UserRow)) or 0


def _audit(row: AuditRow) -> AuditRecord:
    return AuditRecord(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        action=row.action,
        entity=row.entity,
        entity_id=row.entity_id,
        course_id=row.course_id,
        before=row.before,
        after=row.after,
        prev_hash=row.prev_hash,
        hash=row.hash,
        chain=row.chain,
        chain_seq=row.chain_seq,
        scheme=row.scheme,
        key_id=row.key_id,
    )


_GENESIS = "0" * 64


def _no_key() -> bytes:
    raise RuntimeError("this unit of work was built without an audit key")


class SqlAudit:
    def __init__(self, session: Session, key: Callable[[], bytes] = _no_key) -> None:
        self._session = session
        self._key = key

    def key(self) -> bytes:
        """The audit HMAC key (from the settings, never from the database)."""
        return self._key()

    @property
    def _postgres(self) -> bool:
        return self._session.get_bind().dialect.name == "postgresql"

    def lock_chain(self, chain: str) -> tuple[int, str]:
        """The chain's newest ``chain_seq`` and hash, its head row locked until commit.

        Only appends to the same chain wait on this lock (on PostgreSQL; SQLite has one writer
        at a time anyway). A new chain starts at ``(0, genesis)``.
        """
        locked = (
            select(AuditChainRow.seq, AuditChainRow.hash)
            .where(AuditChainRow.chain == chain)
            .with_for_update()
        )
        row = self._session.execute(locked).first()
        if row is None:  # a new chain; a concurrent first append of the same chain may win
            if self._postgres:
                from sqlalchemy.dialects.postgresql import insert as upsert
            else:
                from sqlalchemy.dialects.sqlite import insert as upsert  # type: ignore[assignment]
            self._session.execute(
                upsert(AuditChainRow)
                .values(chain=chain, seq=0, hash=_GENESIS)
                .on_conflict_do_nothing(index_elements=["chain"])
            )
            row = self._session.execute(locked).one()
        return int(row.seq), str(row.hash)

    def next_seq(self) -> int:
        """The next global ``seq`` (a sequence on PostgreSQL; SQLite holds its write lock)."""
        if self._postgres:
            return int(
                self._session.execute(text("SELECT nextval('audit_records_seq')")).scalar_one()
            )
        newest = self._session.scalar(select(func.max(AuditRow.seq)))
        return int(newest or 0) + 1

    def set_chain_head(self, chain: str, seq: int, digest: str) -> None:
        self._session.execute(
            update(AuditChainRow).where(AuditChainRow.chain == chain).values(seq=seq, hash=digest)
        )

    def snapshot(self) -> None:
        """Read everything that follows in this transaction from one snapshot (PostgreSQL:
        REPEATABLE READ; a SQLite read transaction already is one). Call it first."""
        if self._postgres:
            self._session.connection(execution_options={"isolation_level": "REPEATABLE READ"})

    def chain_heads(self) -> dict[str, tuple[int, str]]:
        rows = self._session.execute(
            select(AuditChainRow.chain, AuditChainRow.seq, AuditChainRow.hash)
        ).all()
        return {str(r[0]): (int(r[1]), str(r[2])) for r in rows if int(r[1]) > 0}

    def unanchored(self, exclude: str) -> list[tuple[str, int, str]]:
        """Chains whose head is newer than the last anchor that committed to them."""
        rows = self._session.execute(
            select(AuditChainRow.chain, AuditChainRow.seq, AuditChainRow.hash)
            .outerjoin(AuditAnchoredRow, AuditAnchoredRow.chain == AuditChainRow.chain)
            .where(
                AuditChainRow.chain != exclude,
                AuditChainRow.seq > func.coalesce(AuditAnchoredRow.seq, 0),
            )
            .order_by(AuditChainRow.chain)
        ).all()
        return [(str(r[0]), int(r[1]), str(r[2])) for r in rows]

    def mark_anchored(self, heads: Iterable[tuple[str, int, str]]) -> None:
        for chain, seq, _ in heads:
            done = self._session.execute(
                update(AuditAnchoredRow).where(AuditAnchoredRow.chain == chain).values(seq=seq)
            )
            if done.rowcount == 0:  # type: ignore[attr-defined]
                self._session.execute(insert(AuditAnchoredRow).values(chain=chain, seq=seq))

    def chain_records(self, chain: str) -> list[AuditRecord]:
        rows = self._session.scalars(
            select(AuditRow).where(AuditRow.chain == chain).order_by(AuditRow.chain_seq)
        ).all()
        return [_audit(r) for r in rows]

    def insert(self, record: AuditRecord) -> None:
        self._session.execute(
            insert(AuditRow).values(
                seq=record.seq,
                at=record.at,
                actor=record.actor,
                action=record.action,
                entity=record.entity,
                entity_id=record.entity_id,
                course_id=record.course_id,
                before=record.before,
                after=record.after,
                prev_hash=record.prev_hash,
                hash=record.hash,
                chain=record.chain,
                chain_seq=record.chain_seq,
                scheme=record.scheme,
                key_id=record.key_id,
            )
        )

    def for_course(self, course_id: int, *, limit: int | None = None) -> list[AuditRecord]:
        """The course's records, oldest first; with ``limit``, only the newest ``limit``."""
        query = select(AuditRow).where(AuditRow.course_id == course_id)
        if limit is None:
            rows = list(self._session.scalars(query.order_by(AuditRow.seq)).all())
        else:
            newest = query.order_by(AuditRow.seq.desc()).limit(limit)
            rows = list(reversed(self._session.scalars(newest).all()))
        return [_audit(r) for r in rows]

    def after(self, seq: int, *, limit: int) -> Iterable[AuditRecord]:
        rows = self._session.scalars(
            select(AuditRow).where(AuditRow.seq > seq).order_by(AuditRow.seq).limit(limit)
        ).all()
        return [_audit(r) for r in rows]

    def page(self, *, offset: int, limit: int) -> tuple[list[AuditRecord], int]:
        count = self._session.scalar(select(func.count()).select_from(AuditRow)) or 0
        rows = self._session.scalars(
            select(AuditRow).order_by(AuditRow.seq).offset(offset).limit(limit)
        ).all()
        return [_audit(r) for r in rows], count


_INBOUND_FIELDS = (
    "state",
    "ack_code",
    "raw",
    "results",
    "problems",
    "notes",
    "event_ids",
    "course_id",
    "decision_status",
    "resolved_by",
    "resolution",
)


def _inbound(row: InboundMessageRow) -> Any:
    from inoplan.services.results import InboundRecord

    return InboundRecord(
        id=row.id,
        dedupe_key=row.dedupe_key,
        channel=row.channel,
        sender=row.sender,
        control_id=row.control_id,
        content_sha256=row.content_sha256,
        kind=row.kind,
        version=row.version,
        state=row.state,
        ack_code=row.ack_code,
        raw=row.raw,
        results=list(row.results or []),
        problems=list(row.problems or []),
        notes=list(row.notes or []),
        event_ids=list(row.event_ids or []),
        course_id=row.course_id,
        decision_status=row.decision_status,
        received_at=row.received_at,
        updated_at=row.updated_at,
        resolved_by=row.resolved_by,
        resolution=row.resolution,
    )


class SqlInbound:
    """Result messages received (``inbound_messages``): claim, update, list."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def by_key(self, dedupe_key: str) -> Any:
        row = self._session.scalars(
            select(InboundMessageRow).where(InboundMessageRow.dedupe_key == dedupe_key)
        ).first()
        return None if row is None else _inbound(row)

    def get(self, message_id: int) -> Any:
        row = self._session.get(InboundMessageRow, message_id)
        return None if row is None else _inbound(row)

    def claim(self, *, dedupe_key: str, at: datetime, **fields: Any) -> int | None:
        """Insert a new message; None when the key exists (a resend, or another worker)."""
        try:
            with self._session.begin_nested():
                row = InboundMessageRow(
                    dedupe_key=dedupe_key, received_at=at, updated_at=at, **fields
                )
                self._session.add(row)
                self._session.flush()
                return row.id
        except IntegrityError:
            return None

    def update(self, message_id: int, *, at: datetime, **fields: Any) -> None:
        unknown = set(fields) - set(_INBOUND_FIELDS)
        if unknown:
            raise KeyError(f"not an updatable field: {sorted(unknown)}")
        self._session.execute(
            update(InboundMessageRow)
            .where(InboundMessageRow.id == message_id)
            .values(updated_at=at, **fields)
        )

    def list(self, *, states: Iterable[str], offset: int, limit: int) -> tuple[list[Any], int]:
        wanted = list(states)
        where = InboundMessageRow.state.in_(wanted)
        count = (
            self._session.scalar(select(func.count()).select_from(InboundMessageRow).where(where))
            or 0
        )
        rows = self._session.scalars(
            select(InboundMessageRow)
            .where(where)
            .order_by(InboundMessageRow.id.desc())
            .offset(offset)
            .limit(limit)
        ).all()
        return [_inbound(r) for r in rows], count


def _acknowledgement(row: AcknowledgementRow) -> AcknowledgementRecord:
    return AcknowledgementRecord(
        id=row.id,
        course_id=row.course_id,
        course_version=row.course_version,
        status=row.status,
        rules=tuple(str(r) for r in row.rules or ()),
        as_of=row.as_of,
        note=row.note,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
    )


class SqlAcknowledgements:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(
        self,
        *,
        course_id: int,
        course_version: int,
        status: str,
        rules: list[str],
        as_of: date,
        note: str | None,
        at: datetime,
        by: str,
    ) -> AcknowledgementRecord:
        row = AcknowledgementRow(
            course_id=course_id,
            course_version=course_version,
            status=status,
            rules=rules,
            as_of=as_of,
            note=note,
            acknowledged_at=at,
            acknowledged_by=by,
        )
        self._session.add(row)
        self._session.flush()
        return _acknowledgement(row)

    def latest(self, course_ids: list[int]) -> dict[int, AcknowledgementRecord]:
        """The newest acknowledgement per course, for the given courses."""
        newest = (
            select(func.max(AcknowledgementRow.id))
            .where(AcknowledgementRow.course_id.in_(course_ids))
            .group_by(AcknowledgementRow.course_id)
        )
        rows = self._session.scalars(
            select(AcknowledgementRow).where(AcknowledgementRow.id.in_(newest))
        ).all()
        return {row.course_id: _acknowledgement(row) for row in rows}


def _treatment_day(row: TreatmentDayRow) -> Any:
    from inoplan.services.workflow import TreatmentDay

    return TreatmentDay(
        course_id=row.course_id,
        cycle=row.cycle,
        day=row.day,
        state=row.state,
        version=row.version,
        steps=dict(row.steps or {}),
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


_DayRow = TypeVar("_DayRow", TreatmentDayRow, AppointmentRow)


def _day_rows(session: Session, model: type[_DayRow], course_ids: list[int]) -> list[_DayRow]:
    """Every row of ``model`` (one per course, cycle and day) of these courses, in course,
    cycle and day order, read fresh (one query)."""
    if not course_ids:
        return []
    return list(
        session.scalars(
            select(model)
            .where(model.course_id.in_(course_ids))
            .order_by(model.course_id, model.cycle, model.day)
            .execution_options(populate_existing=True)
        ).all()
    )


def _day_row(
    session: Session, model: type[_DayRow], course_id: int, cycle: int, day: int
) -> _DayRow | None:
    """The row of ``model`` for one course, cycle and day, read fresh."""
    return session.scalars(
        select(model)
        .where(model.course_id == course_id, model.cycle == cycle, model.day == day)
        .execution_options(populate_existing=True)
    ).first()


class SqlTreatmentDays:
    """Dose states (``treatment_days``): read, and move with compare-and-set."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def for_courses(self, course_ids: list[int]) -> list[Any]:
        """Every stored day of these courses, in course, cycle and day order (one query)."""
        return [_treatment_day(r) for r in _day_rows(self._session, TreatmentDayRow, course_ids)]

    def get(self, course_id: int, cycle: int, day: int) -> Any:
        row = _day_row(self._session, TreatmentDayRow, course_id, cycle, day)
        return None if row is None else _treatment_day(row)

    def insert(
        self,
        *,
        course_id: int,
        cycle: int,
        day: int,
        state: str,
        steps: dict[str, Any],
        at: datetime,
        by: str,
    ) -> bool:
        """The first transition of a day (version 1); False when another writer came first."""
        try:
            with self._session.begin_nested():
                self._session.add(
                    TreatmentDayRow(
                        course_id=course_id,
                        cycle=cycle,
                        day=day,
                        state=state,
                        version=1,
                        steps=steps,
                        updated_at=at,
                        updated_by=by,
                    )
                )
                self._session.flush()
        except IntegrityError:
            return False
        return True

    def move(
        self,
        *,
        course_id: int,
        cycle: int,
        day: int,
        expected_version: int,
        state: str,
        steps: dict[str, Any],
        at: datetime,
        by: str,
    ) -> bool:
        """``UPDATE ... WHERE version = :expected``: True if this writer won."""
        result = self._session.execute(
            update(TreatmentDayRow)
            .where(
                TreatmentDayRow.course_id == course_id,
                TreatmentDayRow.cycle == cycle,
                TreatmentDayRow.day == day,
                TreatmentDayRow.version == expected_version,
            )
            .values(
                state=state,
                steps=steps,
                version=TreatmentDayRow.version + 1,
                updated_at=at,
                updated_by=by,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


class SqlCurrentDecisions:
    """Each course's decision for a day (``current_decisions``): one query for a whole day, one
    upsert statement for any number of courses."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def for_day(self, on: date) -> list[StoredDecision]:
        """Every course (oldest first) with its stored decision for ``on`` and its newest
        acknowledgement, in one statement."""
        newest = (
            select(
                AcknowledgementRow.course_id.label("course_id"),
                func.max(AcknowledgementRow.id).label("id"),
            )
            .group_by(AcknowledgementRow.course_id)
            .subquery()
        )
        stored = CurrentDecisionRow
        columns = [getattr(stored, name) for name in SUMMARY_COLUMNS]
        query = (
            select(
                CourseRow.id,
                CourseRow.version,
                PatientRow.external_id,
                stored.course_version,
                stored.fingerprint,
                AcknowledgementRow.status,
                AcknowledgementRow.rules,
                CourseRow.patient_doc["name"].as_string(),
                stored.decision_sha256,
                stored.mac_key_id,
                stored.mac,
                *columns,
            )
            .join(PatientRow, PatientRow.id == CourseRow.patient_id)
            .outerjoin(stored, (stored.course_id == CourseRow.id) & (stored.as_of == on))
            .outerjoin(newest, newest.c.course_id == CourseRow.id)
            .outerjoin(AcknowledgementRow, AcknowledgementRow.id == newest.c.id)
            .order_by(CourseRow.id)
        )
        found = []
        width = len(SUMMARY_COLUMNS)
        for r in self._session.execute(query):
            values = dict(zip(SUMMARY_COLUMNS, r[11 : 11 + width], strict=True))
            stored_row = r[3] is not None
            if stored_row:
                values.update(
                    course_id=r[0],
                    as_of=on,
                    course_version=r[3],
                    fingerprint=r[4],
                    decision_sha256=r[8],
                )
            found.append(
                StoredDecision(
                    course_id=r[0],
                    course_version=r[1],
                    patient_external_id=r[2],
                    decision_version=r[3],
                    fingerprint=r[4],
                    summary=summary_of(values) if stored_row else None,
                    acknowledged_status=r[5],
                    acknowledged_rules=tuple(str(x) for x in r[6] or ()),
                    patient_name=r[7] or "",
                    sealed=values if stored_row else None,
                    mac=r[10],
                    mac_key_id=r[9],
                )
            )
        return found

    def for_course(self, course_id: int) -> list[dict[str, Any]]:
        """Every stored row of a course (oldest day first), each with every column (what
        ``inoplan audit verify`` checks against its MAC)."""
        names = (*DECISION_ROW_COLUMNS, "decision", "mac_key_id", "mac")
        query = (
            select(*(getattr(CurrentDecisionRow, name) for name in names))
            .where(CurrentDecisionRow.course_id == course_id)
            .order_by(CurrentDecisionRow.as_of)
        )
        return [dict(zip(names, r, strict=True)) for r in self._session.execute(query)]

    def lock_day(self, on: date) -> None:
        """Serialise the refreshes of one day across workers until the transaction ends.

        PostgreSQL: a transaction-level advisory lock keyed by the day (released at commit or
        rollback). SQLite: the write transaction already holds the database's one write lock
        (``BEGIN IMMEDIATE``), so nothing more is needed.
        """
        if self._session.get_bind().dialect.name == "postgresql":
            self._session.execute(
                text("SELECT pg_advisory_xact_lock(:space, :day)"),
                {"space": _DAY_LOCK_SPACE, "day": on.toordinal()},
            )

    def upsert(self, rows: list[dict[str, Any]]) -> None:
        """Insert or replace the rows (``stored_row`` values) in one statement.

        A row never replaces one computed for a newer course version (a slow refresh that read
        the course before a write cannot undo the write's decision). Rows are sent in key order,
        so two workers refreshing the same day lock them in the same order and cannot deadlock.
        """
        if not rows:
            return
        ordered = sorted(rows, key=lambda r: (r["course_id"], r["as_of"]))
        from sqlalchemy.dialects import postgresql, sqlite

        dialect = self._session.get_bind().dialect.name
        insert_of: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert_of(CurrentDecisionRow)
        replace = {
            name: statement.excluded[name]
            for name in (
                "course_version",
                "fingerprint",
                *SUMMARY_COLUMNS,
                "decision",
                "computed_at",
                "decision_sha256",
                "mac_key_id",
                "mac",
            )
        }
        statement = statement.on_conflict_do_update(
            index_elements=["course_id", "as_of"],
            set_=replace,
            where=statement.excluded.course_version >= CurrentDecisionRow.course_version,
        )
        self._session.execute(statement, ordered)

    def prune(self, before: date) -> int:
        """Delete the rows for days before ``before``; returns how many."""
        from sqlalchemy import delete

        result = self._session.execute(
            delete(CurrentDecisionRow).where(CurrentDecisionRow.as_of < before)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _appointment(row: AppointmentRow) -> Appointment:
    return Appointment(
        course_id=row.course_id,
        cycle=row.cycle,
        day=row.day,
        starts_at=row.starts_at,
        note=row.note,
        version=row.version,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


class SqlAppointments:
    """Booked times of treatment days (``appointments``): read, and change with
    compare-and-set on ``version`` (the first booking an insert, unique per day)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def for_courses(self, course_ids: list[int]) -> list[Appointment]:
        """Every booking of these courses (one query)."""
        return [_appointment(r) for r in _day_rows(self._session, AppointmentRow, course_ids)]

    def get(self, course_id: int, cycle: int, day: int) -> Appointment | None:
        row = _day_row(self._session, AppointmentRow, course_id, cycle, day)
        return None if row is None else _appointment(row)

    def put(
        self,
        *,
        course_id: int,
        cycle: int,
        day: int,
        expected_version: int,
        starts_at: datetime,
        note: str | None,
        at: datetime,
        by: str,
    ) -> bool:
        """Book (``expected_version`` 0: insert) or re-book; False when another writer came
        first (the row exists, or its version moved on)."""
        if expected_version == 0:
            try:
                with self._session.begin_nested():
                    self._session.add(
                        AppointmentRow(
                            course_id=course_id,
                            cycle=cycle,
                            day=day,
                            starts_at=starts_at,
                            note=note,
                            version=1,
                            updated_at=at,
                            updated_by=by,
                        )
                    )
                    self._session.flush()
            except IntegrityError:
                return False
            return True
        result = self._session.execute(
            update(AppointmentRow)
            .where(
                AppointmentRow.course_id == course_id,
                AppointmentRow.cycle == cycle,
                AppointmentRow.day == day,
                AppointmentRow.version == expected_version,
            )
            .values(
                starts_at=starts_at,
                note=note,
                version=expected_version + 1,
                updated_at=at,
                updated_by=by,
            )
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def delete(self, *, course_id: int, cycle: int, day: int, expected_version: int) -> bool:
        result = self._session.execute(
            delete(AppointmentRow).where(
                AppointmentRow.course_id == course_id,
                AppointmentRow.cycle == cycle,
                AppointmentRow.day == day,
                AppointmentRow.version == expected_version,
            )
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]
