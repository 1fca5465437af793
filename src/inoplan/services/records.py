"""Records use cases: courses, events, decisions shown, patients, users.

Every write runs in one unit of work (one transaction): either all of it is stored, with its
audit record, or none of it. Course writes are guarded by the course version (optimistic
concurrency): the version is bumped with ``UPDATE ... WHERE version = :expected`` in the same
transaction as the insert, so a stale writer gets :class:`~inoplan.errors.Conflict` and writes
nothing, with any number of workers.

The unit of work is passed in as a factory (``uow_factory(write=...)``), built by
``inoplan.bootstrap``; this module imports neither SQLAlchemy nor the persistence package.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol

from inoplan import DISCLAIMER, __version__
from inoplan.errors import Conflict, InvalidInput, NotFound

__all__ = [
    "AuditRecord",
    "CourseRecord",
    "CourseRef",
    "DecisionRecord",
    "EventRecord",
    "Page",
    "PatientRecord",
    "UnitOfWork",
    "UowFactory",
    "UserRecord",
    "append_event",
    "confirm_decision",
    "course_audit",
    "course_decisions",
    "course_document",
    "course_version",
    "create_course",
    "export_document",
    "get_patient",
    "get_patient_by_key",
    "list_courses",
    "list_patients",
    "plan_course",
    "show_decision",
    "to_json_value",
    "verify_dose",
]

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


# -- values returned by repositories ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CourseRecord:
    id: int
    version: int
    label: str
    has_label: bool
    label_revision: str
    patient_external_id: str
    patient_doc: dict[str, Any]
    plan_doc: dict[str, Any]
    event_count: int
    start_date: date
    created_at: datetime
    created_by: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class EventRecord:
    course_id: int
    position: int
    data: dict[str, Any]
    recorded_at: datetime
    recorded_by: str


@dataclass(frozen=True, slots=True)
class PatientRecord:
    id: int
    external_id: str
    birth_date: date
    sex: str
    course_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    id: int
    course_id: int
    course_version: int
    as_of: date
    status: str
    label_revision: str
    engine_version: str
    shown_at: datetime
    shown_to: str
    inputs: dict[str, Any]
    decision: dict[str, Any]


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    username: str
    role: str
    active: bool
    password_hash: str
    created_at: datetime
    #: Carried by tokens and web sessions; raised on logout and on any account change.
    session_generation: int = 0


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    at: str
    actor: str
    action: str
    entity: str
    entity_id: str | None
    course_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class Page:
    data: list[Any]
    count: int
    offset: int
    limit: int


@dataclass(frozen=True, slots=True)
class CourseRef:
    id: int
    version: int
    extra: dict[str, Any] = field(default_factory=dict)


# -- ports (implemented in inoplan.persistence) ------------------------------------------------


class UnitOfWork(Protocol):
    """One transaction. Leaving the block without ``commit()`` rolls everything back."""

    patients: Any
    courses: Any
    decisions: Any
    users: Any
    audit: Any
    inbound: Any  # result feeds (inoplan.services.results)

    def __enter__(self) -> UnitOfWork: ...
    def __exit__(self, *exc_info: object) -> None: ...
    def commit(self) -> None: ...


class UowFactory(Protocol):
    def __call__(self, *, write: bool = False) -> AbstractContextManager[UnitOfWork]: ...


# -- helpers -----------------------------------------------------------------------------------


def to_json_value(value: Any) -> Any:
    """Dates to ISO text, tuples to lists, recursively; raises on anything not JSON-able."""
    if isinstance(value, Mapping):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    from decimal import Decimal

    if isinstance(value, Decimal):
        return float(value)
    raise InvalidInput("document", f"value of type {type(value).__name__} is not JSON")


def document_sha256(document: Mapping[str, Any]) -> str:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_SERVICE_FIELDS = ("id", "version", "expect")


def _clean_document(document: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(document, Mapping):
        raise InvalidInput("document", "a course document must be a mapping")
    data = to_json_value({k: v for k, v in document.items() if k not in _SERVICE_FIELDS})
    assert isinstance(data, dict)
    return data


def _assemble(course: CourseRecord, events: Sequence[EventRecord]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    if course.has_label:
        document["label"] = course.label
    document["patient"] = course.patient_doc
    document["plan"] = course.plan_doc
    document["events"] = [e.data for e in events]
    return document


def _parse(document: Mapping[str, Any]) -> Any:
    from inoplan.document import parse_course

    return parse_course(document)


# -- courses -----------------------------------------------------------------------------------


def create_course(
    uow_factory: UowFactory,
    document: Mapping[str, Any],
    *,
    actor: str,
    clock: Clock = utc_now,
) -> CourseRef:
    """Validate and store a new course document with its events (version 1).

    Raises
    ------
    InvalidInput
        The document is invalid (the field is named, as ``inoplan evaluate`` names it).
    Conflict
        The patient id exists with a different birth date or sex.
    """
    from inoplan.services.audit import append_audit

    data = _clean_document(document)
    course = _parse(data)
    patient = data["patient"]
    events = list(data.get("events") or [])
    now = clock()
    with uow_factory(write=True) as uow:
        patient_id = uow.patients.get_or_add(
            external_id=patient["id"],
            birth_date=course.patient.birth_date,
            sex=course.patient.sex,
            at=now,
        )
        existing = uow.patients.get(patient_id)
        if existing.birth_date != course.patient.birth_date or existing.sex != course.patient.sex:
            raise Conflict(
                "patient.id: a patient with this id is already recorded with a different "
                "birth date or sex; check the identifier"
            )
        course_id = uow.courses.add(
            patient_id=patient_id,
            label=data.get("label", "us"),
            has_label="label" in data,
            label_revision=course.label,
            patient_doc=patient,
            plan_doc=data["plan"],
            start_date=course.plan.start_date,
            event_count=len(events),
            at=now,
            by=actor,
        )
        for position, event in enumerate(events):
            uow.courses.add_event(course_id, position, event, at=now, by=actor)
        append_audit(
            uow,
            actor=actor,
            action="course.create",
            entity="course",
            entity_id=str(course_id),
            course_id=course_id,
            before=None,
            after={
                "version": 1,
                "label_revision": course.label,
                "patient": patient["id"],
                "events": len(events),
                "document_sha256": document_sha256(data),
            },
            at=now,
        )
        uow.commit()
    return CourseRef(id=course_id, version=1)


def _event_field(path: str, position: int) -> str:
    prefix = f"events[{position}]"
    if path == prefix:
        return "event"
    if path.startswith(prefix + "."):
        return "event." + path[len(prefix) + 1 :]
    return path


def append_event(
    uow_factory: UowFactory,
    course_id: int,
    event: Mapping[str, Any],
    *,
    expected_version: int,
    actor: str,
    clock: Clock = utc_now,
) -> CourseRef:
    """Append one event if the course is still at ``expected_version``; returns the new version.

    The would-be document (stored events plus this one) is validated before anything is kept,
    so an event that would make the course invalid (a duplicate id, a correction of an unknown
    event, a dose recorded twice) is refused with the field named (``event.supersedes``).

    Raises
    ------
    NotFound
        No such course.
    Conflict
        The course has moved on (another write came first); nothing was written.
    InvalidInput
        The event, or the document with it, is invalid.
    """
    from inoplan.services.audit import append_audit

    data = to_json_value(dict(event))
    now = clock()
    with uow_factory(write=True) as uow:
        if not uow.courses.bump_version(course_id, expected_version, at=now):
            current = uow.courses.get(course_id)
            if current is None:
                raise NotFound(f"course {course_id} does not exist")
            raise Conflict(
                f"course {course_id} is at version {current.version}, not {expected_version}; "
                "reload it and apply your change again"
            )
        course = uow.courses.get(course_id)
        stored = uow.courses.events(course_id)
        position = len(stored)
        document = _assemble(course, stored)
        document["events"].append(data)
        try:
            _parse(document)
        except InvalidInput as exc:
            raise InvalidInput(_event_field(exc.field, position), exc.message) from None
        uow.courses.add_event(course_id, position, data, at=now, by=actor)
        append_audit(
            uow,
            actor=actor,
            action=f"event.{data.get('type', 'unknown')}",
            entity="event",
            entity_id=f"{course_id}:{position}",
            course_id=course_id,
            before={"version": expected_version, "events": position},
            after={"version": course.version, "events": position + 1, "event": data},
            at=now,
        )
        uow.commit()
    return CourseRef(id=course_id, version=course.version, extra={"position": position})


def _load(uow_factory: UowFactory, course_id: int) -> tuple[CourseRecord, dict[str, Any]]:
    with uow_factory() as uow:
        course = uow.courses.get(course_id)
        if course is None:
            raise NotFound(f"course {course_id} does not exist")
        events = uow.courses.events(course_id)
    return course, _assemble(course, events)


def course_document(uow_factory: UowFactory, course_id: int) -> dict[str, Any]:
    """The course document as stored, with ``id`` and ``version``."""
    course, document = _load(uow_factory, course_id)
    return {**document, "id": course.id, "version": course.version}


def course_version(uow_factory: UowFactory, course_id: int) -> int:
    """The course's current version (what ``If-Match`` must carry for the next write)."""
    with uow_factory() as uow:
        course = uow.courses.get(course_id)
    if course is None:
        raise NotFound(f"course {course_id} does not exist")
    return int(course.version)


def export_document(uow_factory: UowFactory, course_id: int) -> dict[str, Any]:
    """The course document alone (no service fields), readable by ``inoplan evaluate``."""
    return _load(uow_factory, course_id)[1]


def list_courses(
    uow_factory: UowFactory,
    *,
    offset: int = 0,
    limit: int = 50,
    patient: str | None = None,
    patient_key: int | None = None,
) -> Page:
    """Courses, oldest first; ``patient`` (the clinic's id) or ``patient_key`` (the opaque id
    that URLs carry) narrows them to one patient."""
    with uow_factory() as uow:
        rows, count = uow.courses.list(
            offset=offset, limit=limit, patient=patient, patient_key=patient_key
        )
    return Page(data=rows, count=count, offset=offset, limit=limit)


def list_patients(uow_factory: UowFactory, *, offset: int = 0, limit: int = 50) -> Page:
    with uow_factory() as uow:
        rows, count = uow.patients.list(offset=offset, limit=limit)
    return Page(data=rows, count=count, offset=offset, limit=limit)


def get_patient(uow_factory: UowFactory, external_id: str) -> PatientRecord:
    with uow_factory() as uow:
        patient: PatientRecord | None = uow.patients.get_by_external(external_id)
    if patient is None:
        raise NotFound("no patient with this id")  # the id is not echoed: it may be an MRN
    return patient


def get_patient_by_key(uow_factory: UowFactory, key: int) -> PatientRecord:
    """A patient by the opaque key that URLs carry (never the clinic's identifier)."""
    with uow_factory() as uow:
        patient: PatientRecord | None = uow.patients.get_by_key(key)
    if patient is None:
        raise NotFound(f"patient {key} does not exist")
    return patient


def _policy_kwargs(policy: Any) -> dict[str, Any]:
    return {} if policy is None else {"policy": policy}


def plan_course(uow_factory: UowFactory, course_id: int, *, policy: Any = None) -> dict[str, Any]:
    """The calendar of the course (as ``inoplan plan --json``) with the disclaimer."""
    from inoplan.services.courses import plan_document

    course, document = _load(uow_factory, course_id)
    plan: dict[str, Any] = to_json_value(plan_document(document, **_policy_kwargs(policy)))
    plan.setdefault("disclaimer", DISCLAIMER)
    plan["course_id"] = course.id
    plan["course_version"] = course.version
    return plan


def show_decision(
    uow_factory: UowFactory,
    course_id: int,
    on: date,
    *,
    actor: str,
    clock: Clock = utc_now,
    policy: Any = None,
) -> dict[str, Any]:
    """Decide the course on ``on`` (as ``inoplan evaluate``), record it as shown, return it.

    The decision is computed outside the write transaction; the record of it (the full JSON,
    the course version and document hash it was computed from, the label revision, the engine
    version, who and when) and its audit record are written together.
    """
    from inoplan.services.audit import append_audit
    from inoplan.services.courses import decide_document

    course, document = _load(uow_factory, course_id)
    decision = to_json_value(decide_document(document, on, **_policy_kwargs(policy)))
    assert isinstance(decision, dict)
    decision.setdefault("disclaimer", DISCLAIMER)
    inputs = {
        "course_id": course.id,
        "course_version": course.version,
        "events": len(document["events"]),
        "document_sha256": document_sha256(document),
        "on": on.isoformat(),
    }
    now = clock()
    label_revision = str(decision.get("label_revision") or course.label_revision)
    engine_version = str(decision.get("engine_version") or __version__)
    status = str(decision.get("status"))
    with uow_factory(write=True) as uow:
        decision_id = uow.decisions.add(
            course_id=course.id,
            course_version=course.version,
            as_of=on,
            status=status,
            label_revision=label_revision,
            engine_version=engine_version,
            inputs=inputs,
            decision=decision,
            at=now,
            by=actor,
        )
        append_audit(
            uow,
            actor=actor,
            action="decision.show",
            entity="decision",
            entity_id=str(decision_id),
            course_id=course.id,
            before=None,
            after={
                "status": status,
                "as_of": on.isoformat(),
                "course_version": course.version,
                "label_revision": label_revision,
                "engine_version": engine_version,
                "document_sha256": inputs["document_sha256"],
            },
            at=now,
        )
        uow.commit()
    from inoplan.services.telemetry import decision_shown

    decision_shown(status, "records")
    return {
        **decision,
        "decision_id": decision_id,
        "course_id": course.id,
        "course_version": course.version,
    }


def confirm_decision(
    uow_factory: UowFactory,
    course_id: int,
    decision_id: int,
    *,
    actor: str,
    note: str | None = None,
    clock: Clock = utc_now,
) -> AuditRecord:
    """Record that a clinician confirmed a decision shown earlier (an audit record).

    Raises
    ------
    NotFound
        No such course, or no such decision for this course.
    """
    from inoplan.services.audit import append_audit

    with uow_factory(write=True) as uow:
        course = uow.courses.get(course_id)
        if course is None:
            raise NotFound(f"course {course_id} does not exist")
        shown = {d.id: d for d in uow.decisions.for_course(course_id)}
        decision = shown.get(decision_id)
        if decision is None:
            raise NotFound(f"course {course_id} has no decision {decision_id}")
        record: AuditRecord = append_audit(
            uow,
            actor=actor,
            action="decision.confirm",
            entity="decision",
            entity_id=str(decision_id),
            course_id=course_id,
            after={
                "status": decision.status,
                "as_of": decision.as_of.isoformat(),
                "decision_course_version": decision.course_version,
                "course_version_now": course.version,
                "note": note,
            },
            at=clock(),
        )
        uow.commit()
    return record


def verify_dose(
    uow_factory: UowFactory,
    course_id: int,
    *,
    cycle: int,
    day: int,
    dose_mg: float,
    actor: str,
    note: str | None = None,
    policy: Any = None,
    clock: Clock = utc_now,
) -> AuditRecord:
    """Record a pharmacist's verification of one dose against the plan (an audit record).

    The planned dose in mg for that cycle and day is looked up in the course's plan (as
    ``inoplan plan``) and stored beside the verified one, with whether they are equal.

    Raises
    ------
    NotFound
        No such course.
    InvalidInput
        ``day``: the plan has no dose for this cycle and day.
    """
    from inoplan.services.audit import append_audit
    from inoplan.services.courses import plan_document

    course, document = _load(uow_factory, course_id)
    plan = to_json_value(plan_document(document, **_policy_kwargs(policy)))
    planned = next(
        (d for d in plan.get("doses", []) if d.get("cycle") == cycle and d.get("day") == day),
        None,
    )
    if planned is None:
        raise InvalidInput("day", f"the plan has no dose for cycle {cycle} day {day}")
    planned_mg = planned.get("dose_mg")
    with uow_factory(write=True) as uow:
        record: AuditRecord = append_audit(
            uow,
            actor=actor,
            action="dose.verify",
            entity="dose",
            entity_id=f"{course_id}:{cycle}:{day}",
            course_id=course_id,
            after={
                "cycle": cycle,
                "day": day,
                "dose_mg": dose_mg,
                "planned_dose_mg": planned_mg,
                "matches_plan": planned_mg is not None and float(planned_mg) == float(dose_mg),
                "course_version": course.version,
                "note": note,
            },
            at=clock(),
        )
        uow.commit()
    return record


def course_decisions(uow_factory: UowFactory, course_id: int) -> list[DecisionRecord]:
    with uow_factory() as uow:
        if uow.courses.get(course_id) is None:
            raise NotFound(f"course {course_id} does not exist")
        return list(uow.decisions.for_course(course_id))


def course_audit(
    uow_factory: UowFactory, course_id: int, *, limit: int | None = None
) -> list[AuditRecord]:
    """Who did what to the course and when, oldest first (only the newest ``limit`` if given)."""
    with uow_factory() as uow:
        if uow.courses.get(course_id) is None:
            raise NotFound(f"course {course_id} does not exist")
        if limit is None:
            return list(uow.audit.for_course(course_id))
        return list(uow.audit.for_course(course_id, limit=limit))


def iter_audit(uow_factory: UowFactory, *, batch: int = 1000) -> Iterator[AuditRecord]:
    after = 0
    while True:
        with uow_factory() as uow:
            chunk = list(uow.audit.after(after, limit=batch))
        if not chunk:
            return
        yield from chunk
        after = chunk[-1].seq


_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


def check_username(username: str) -> str:
    if not isinstance(username, str) or not _USERNAME.match(username):
        raise InvalidInput(
            "username", "1-64 characters: letters, digits, '.', '_', '@', '-' (no spaces)"
        )
    return username
