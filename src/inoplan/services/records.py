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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from inoplan import DISCLAIMER, __version__
from inoplan.errors import Conflict, InvalidInput, NotFound
from inoplan.services.audit import iter_audit
from inoplan.services.common import (
    CourseDocumentJson,
    StoredCourseJson,
    assemble_document,
    check_username,
    document_sha256,
    to_json_value,
)
from inoplan.services.decision_store import acknowledges, deciding_rules
from inoplan.services.ports import AuditRecord, UnitOfWork, UowFactory, UserRecord

if TYPE_CHECKING:  # the JSON shapes (the renderers load the engine: only when deciding)
    from inoplan.domain.policy import SitePolicy
    from inoplan.services.render import CoursePlanJson, PlanJson
    from inoplan.services.render_decision import DecisionJson, ShownDecisionJson

__all__ = [
    "AcknowledgementRecord",
    "AuditRecord",
    "CourseRecord",
    "CourseRef",
    "DecisionRecord",
    "EventRecord",
    "Page",
    "PatientRecord",
    "StoredDecision",
    "UnitOfWork",
    "UowFactory",
    "UserRecord",
    "WorkflowGive",
    "acknowledge_course",
    "acknowledgements",
    "append_event",
    "check_username",
    "confirm_decision",
    "course_audit",
    "course_decisions",
    "course_document",
    "course_version",
    "create_course",
    "document_sha256",
    "export_document",
    "get_patient",
    "get_patient_by_key",
    "is_acknowledged",
    "iter_audit",
    "list_courses",
    "list_patients",
    "plan_course",
    "show_decision",
    "to_json_value",
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
class AcknowledgementRecord:
    """A prescriber saw that a course's decision is to stop (``status``) for these ``rules``."""

    id: int
    course_id: int
    course_version: int
    status: str
    rules: tuple[str, ...]
    as_of: date
    note: str | None
    acknowledged_at: datetime
    acknowledged_by: str


@dataclass(frozen=True, slots=True)
class StoredDecision:
    """A course with what is stored of its decision for one day (``current_decisions``) and its
    newest acknowledgement: one row of the Today list's single query. The ``decision_*`` fields
    are ``None`` when nothing is stored for that day; whether what is stored is current is for
    ``inoplan.services.decisions`` to judge (course version and fingerprint)."""

    course_id: int
    course_version: int
    patient_external_id: str
    decision_version: int | None
    fingerprint: str | None
    summary: dict[str, Any] | None
    acknowledged_status: str | None
    acknowledged_rules: tuple[str, ...]
    patient_name: str = ""
    #: the columns the row's MAC covers (``audit.DECISION_ROW_COLUMNS``), its MAC and key id
    sealed: dict[str, Any] | None = None
    mac: str | None = None
    mac_key_id: str | None = None


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of records (``count`` is the total without the page's bounds)."""

    data: list[T]
    count: int
    offset: int
    limit: int


@dataclass(frozen=True, slots=True)
class WorkflowGive:
    """The treatment-day workflow's give step recording its dose (``services.workflow.give``).

    The one writer of an administration that is not a direct one: every other administration
    appended to a course (REST, web, CLI, FHIR, HL7, a test's setup) for a day not given
    through the workflow needs a prescriber's override (``errors.OutsideWorkflow``). Only the
    give step builds it (``tests/architecture`` checks that no other module names it); no
    adapter can pass it, they hand over event data only.
    """

    cycle: int
    day: int


@dataclass(frozen=True, slots=True)
class CourseRef:
    id: int
    version: int
    extra: dict[str, Any] = field(default_factory=dict)


# -- helpers -----------------------------------------------------------------------------------


_SERVICE_FIELDS = ("id", "version", "expect")


def _clean_document(document: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(document, Mapping):
        raise InvalidInput("document", "a course document must be a mapping")
    data = to_json_value({k: v for k, v in document.items() if k not in _SERVICE_FIELDS})
    assert isinstance(data, dict)
    return data


def _assemble(course: CourseRecord, events: Sequence[EventRecord]) -> CourseDocumentJson:
    return assemble_document(course, [e.data for e in events])


def _parse(document: Mapping[str, Any]) -> Any:
    from inoplan.document import parse_course

    return parse_course(document)


# -- courses -----------------------------------------------------------------------------------


def create_course(
    uow_factory: UowFactory,
    document: Mapping[str, Any],
    *,
    actor: str,
    role: str | None = None,
    now: datetime | None = None,
    policy: Any = None,
    clock: Clock = utc_now,
) -> CourseRef:
    """Validate and store a new course document with its events (version 1).

    Besides the document's own validity (``inoplan evaluate`` checks), the write-time guards of
    ``inoplan.services.guards`` run: nothing dated in the future of ``now`` (the clinic's clock;
    adapters pass it, internal callers may leave it out), every recorded dose that goes against
    the decision carries an ``override_reason`` (and ``role``, when given, may override), and
    the course can be planned and decided.

    Raises
    ------
    InvalidInput
        The document is invalid (the field is named, as ``inoplan evaluate`` names it);
        ``OverrideRequired`` for a dose recorded against the decision without a reason.
    Forbidden
        ``role`` may not record an override.
    Conflict
        The patient id exists with a different birth date or sex.
    """
    from inoplan.services.audit import append_audit, course_fingerprint

    data = _clean_document(document)
    course = _parse(data)
    overrides, decided, today = _guard_document(
        course, data, role=role, now=now, policy=policy, clock=clock
    )
    patient = data["patient"]
    events = list(data.get("events") or [])
    now_utc = clock()
    with uow_factory(write=True) as uow:
        patient_id = uow.patients.get_or_add(
            external_id=patient["id"],
            birth_date=course.patient.birth_date,
            sex=course.patient.sex,
            at=now_utc,
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
            at=now_utc,
            by=actor,
        )
        for position, event in enumerate(events):
            uow.courses.add_event(course_id, position, event, at=now_utc, by=actor)
        _store_decision(uow, course_id, 1, today, decided, policy=policy, at=now_utc)
        stored: dict[str, Any] = {k: data[k] for k in ("label", "patient", "plan") if k in data}
        after: dict[str, Any] = {
            "version": 1,
            "label_revision": course.label,
            "patient": patient["id"],
            "events": len(events),
            # the document as stored (what `audit verify` rebuilds from the rows)
            "document_sha256": document_sha256({**stored, "events": events}),
            "stored_sha256": course_fingerprint(
                label=data.get("label", "us"),
                has_label="label" in data,
                label_revision=course.label,
                start_date=course.plan.start_date,
                patient_id=patient["id"],
                birth_date=existing.birth_date,
                sex=existing.sex,
            ),
        }
        if overrides:
            after["overrides"] = overrides
        history = _history_doses(course, today)
        if history:
            after["history_doses"] = history
        append_audit(
            uow,
            actor=actor,
            action="course.create",
            entity="course",
            entity_id=str(course_id),
            course_id=course_id,
            before=None,
            after=after,
            at=now_utc,
        )
        uow.commit()
    PARSED_COURSES.put(course_id, 1, now_utc, tuple(events), course)
    return CourseRef(id=course_id, version=1)


def _guard_document(
    course: Any,
    data: Mapping[str, Any],
    *,
    role: str | None,
    now: datetime | None,
    policy: Any,
    clock: Clock,
) -> tuple[list[dict[str, Any]], dict[str, Any], date]:
    """The write-time guards for a whole new document.

    Returns the overrides it records, and today's decision with its day (stored with the course).
    """
    from inoplan.domain.course import AdministrationEvent
    from inoplan.services import guards

    if role is not None:
        from inoplan.services.auth import Forbidden, can

        events = [e for e in data.get("events") or [] if isinstance(e, Mapping)]
        # doses stored with a new course are its history: only a role that may create (import)
        # a course brings them; the live course's doses go through the workflow afterwards
        if any(e.get("type") == "administration" for e in events) and not can(
            role, "course.create"
        ):
            raise Forbidden(role, "course.create")
        if any(e.get("override_reason") for e in events) and not can(role, "dose.override"):
            raise Forbidden(role, "dose.override")
    if now is not None:
        guards.check_not_future(course, now)
    overrides = []
    live_from = guards.live_dose_from((now or clock()).date())
    for dose in course.administrations():
        assert isinstance(dose, AdministrationEvent)
        because = guards.require_override(
            course,
            dose,
            field=f"events[{dose.index}].override_reason",
            policy=policy,
            # history (limits and recorded stops, no hindsight) unless dated in the live window:
            # then the decision of its own date and the planned dose, as for a dose recorded now
            history=dose.date < live_from,
        )
        if because:
            overrides.append(_override_record(dose.index, dose.override_reason, because))
    today = (now or clock()).date()
    for event in course.events:
        if event.type in ("reschedule", "dose_change"):
            guards.check_move(
                course, event.index, today, field=f"events[{event.index}]", policy=policy
            )
    dates = {today, course.plan.start_date, *(a.date for a in course.administrations())}
    if course.events:
        dates.add(max(e.date for e in course.events))
    decided = guards.check_decidable(course, data, dates, field="events", policy=policy)
    return overrides, decided[today], today


def _history_doses(course: Any, today: date) -> list[dict[str, Any]]:
    """The doses a new document brings with it: the course's history (given elsewhere or
    before the course was stored), not given through the treatment-day workflow. Named in the
    ``course.create`` audit record; the course page marks them as history."""
    from inoplan.services import guards

    live_from = guards.live_dose_from(today)
    return [
        {"position": a.index, "cycle": a.cycle, "day": a.day, "date": a.date.isoformat()}
        for a in course.administrations()
        if a.date < live_from  # a dose in the live window was judged as one recorded now
    ]


def _override_record(position: int, reason: str | None, because: Sequence[str]) -> dict[str, Any]:
    return {"position": position, "override_reason": reason, "because": list(because)}


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
    role: str | None = None,
    now: datetime | None = None,
    policy: Any = None,
    clock: Clock = utc_now,
    within: Callable[[UnitOfWork, int], dict[str, Any] | None] | None = None,
    workflow_give: WorkflowGive | None = None,
) -> CourseRef:
    """Append one event if the course is still at ``expected_version``; returns the new version.

    The would-be document (stored events plus this one) is validated before anything is kept,
    so an event that would make the course invalid (a duplicate id, a correction of an unknown
    event, a dose recorded twice) is refused with the field named (``event.supersedes``). Then
    the write-time guards run (``inoplan.services.guards``): the ``role``'s permission for the
    event, for the target of a correction or void, and for an override (when ``role`` is
    given); no past-tense entry dated after ``now`` (the clinic's clock, when given); a dose
    against the decision needs an ``override_reason``; the course must stay decidable (for
    today and for the event's date). All of it runs before the write transaction; the write
    itself only succeeds if the course is still at ``expected_version``.

    ``within(uow, position)`` runs inside the write transaction, after the event is stored and
    before it commits (``inoplan.services.workflow`` moves the dose's state there, so the dose
    and its "given" state are stored together or not at all); what it returns is added to the
    event's audit record, and anything it raises rolls the whole write back.

    An administration is a *direct* one unless ``workflow_give`` says the workflow's give step
    writes it (with ``within`` moving the day to "given"), or it corrects (``supersedes``) a
    recorded administration of the same cycle and day (the correction rules apply). A direct
    administration needs a prescriber's ``override_reason`` (``dose.override``), else
    ``OutsideWorkflow`` (HTTP 409), and is refused (``Conflict``) while its day is released,
    verified or prepared in the workflow (give it, or withdraw it first).

    Raises
    ------
    NotFound
        No such course.
    Conflict
        The course has moved on (another write came first); nothing was written.
    InvalidInput
        The event, or the document with it, is invalid; ``OverrideRequired`` for a dose against
        the decision without an override reason.
    Forbidden
        ``role`` may not record this event, correct or withdraw its target, or override.
    OutsideWorkflow
        A direct administration without an override reason (see above).
    """
    from inoplan.services import guards
    from inoplan.services.audit import append_audit

    data = to_json_value(dict(event))
    _check_workflow_give(data, workflow_give, within)
    with uow_factory() as uow:
        current = uow.courses.get(course_id)
        if current is None:
            raise NotFound(f"course {course_id} does not exist")
        datas, before = PARSED_COURSES.load(current, uow.courses.events)
        direct = workflow_give is None and guards.is_direct_administration(data, datas)
        state = _day_state(uow, course_id, data) if direct else None
    if role is not None:  # 403 before 409: a refused role learns nothing about the course
        guards.authorize_event(role, data, datas, given_by_workflow=workflow_give is not None)
    if current.version != expected_version:
        raise _stale(course_id, current.version, expected_version)
    position = len(datas)
    override, parsed, decided, today = _guard_event(
        current,
        datas,
        data,
        before=before,
        now=now,
        policy=policy,
        clock=clock,
        outside_workflow=state,
    )
    written_at = clock()
    version = expected_version + 1
    with uow_factory(write=True) as uow:
        if not uow.courses.bump_version(course_id, expected_version, at=written_at):
            latest = uow.courses.get(course_id)
            if latest is None:
                raise NotFound(f"course {course_id} does not exist")
            raise _stale(course_id, latest.version, expected_version)
        if direct:  # the day's state as of this transaction: not moved on meanwhile
            _not_in_workflow(course_id, data, _day_state(uow, course_id, data))
        uow.courses.add_event(course_id, position, data, at=written_at, by=actor)
        _store_decision(uow, course_id, version, today, decided, policy=policy, at=written_at)
        after: dict[str, Any] = {"version": version, "events": position + 1, "event": data}
        if override is not None:
            after["override"] = override
        if direct:
            after["outside_workflow"] = True
        if within is not None:
            extra = within(uow, position)
            if extra:
                after.update(extra)
        append_audit(
            uow,
            actor=actor,
            action=f"event.{data.get('type', 'unknown')}",
            entity="event",
            entity_id=f"{course_id}:{position}",
            course_id=course_id,
            before={"version": expected_version, "events": position},
            after=after,
            at=written_at,
        )
        uow.commit()
    PARSED_COURSES.put(course_id, version, written_at, (*datas, data), parsed)
    return CourseRef(id=course_id, version=version, extra={"position": position})


def _check_workflow_give(
    data: Mapping[str, Any],
    given: WorkflowGive | None,
    within: Callable[..., Any] | None,
) -> None:
    """The give step's flag covers exactly its own dose: a new administration of its cycle and
    day, with the state change (``within``) in the same transaction."""
    if given is None:
        return
    if not isinstance(given, WorkflowGive) or within is None:
        raise InvalidInput("event", "the workflow's give step records its dose with its state")
    if (
        data.get("type") != "administration"
        or (data.get("cycle"), data.get("day")) != (given.cycle, given.day)
        or data.get("supersedes")
        or data.get("override_reason")
    ):
        raise InvalidInput(
            "event",
            f"the give step of cycle {given.cycle} day {given.day} records that dose only",
        )


def _day_state(uow: UnitOfWork, course_id: int, data: Mapping[str, Any]) -> str:
    """The treatment-day state of the administration's day ("ordered" without a row)."""
    cycle, day = data.get("cycle"), data.get("day")
    if not isinstance(cycle, int) or isinstance(cycle, bool) or day not in (1, 8, 15):
        return "ordered"  # the document check names the field
    row = uow.treatment_days.get(course_id, cycle, day)
    return "ordered" if row is None else str(row.state)


def _not_in_workflow(course_id: int, data: Mapping[str, Any], state: str) -> None:
    """A dose on its way through the workflow is given there, not recorded beside it."""
    if state in ("released", "verified", "prepared"):
        raise Conflict(
            f"course {course_id} cycle {data.get('cycle')} day {data.get('day')} is {state} in "
            "the treatment-day workflow: record its administration with the give step, or "
            "withdraw it (dose.withdraw) before recording a dose given outside the workflow; "
            "nothing was saved"
        )


def _stale(course_id: int, version: int, expected: int) -> Conflict:
    return Conflict(
        f"course {course_id} is at version {version}, not {expected}; "
        "reload it and apply your change again"
    )


def _guard_event(
    course: CourseRecord,
    stored: Sequence[Mapping[str, Any]],
    data: dict[str, Any],
    *,
    before: Any,
    now: datetime | None,
    policy: Any,
    clock: Clock,
    outside_workflow: str | None = None,
) -> tuple[dict[str, Any] | None, Any, dict[str, Any], date]:
    """Validate one event against the stored course and run the write-time guards.

    ``outside_workflow``: the treatment-day state of a direct administration's day (None: not
    a direct administration); such a dose needs an override (``guards.require_override``).

    ``before`` is the stored course already parsed (from :data:`PARSED_COURSES`), or None: then
    the whole would-be document is parsed; else only the new event is validated into it
    (``document.io.extend_course``: the same result and errors). Returns the override record
    to audit (``None`` when the event overrides nothing), the parsed would-be course, and its
    decision for today with the day (stored with the write).
    """
    from inoplan.document.io import extend_course
    from inoplan.domain.course import AdministrationEvent
    from inoplan.services import guards

    position = len(stored)
    document = assemble_document(course, [*stored, data])
    try:
        parsed = _parse(document) if before is None else extend_course(before, data, position)
        if now is not None:
            guards.check_not_future(
                parsed, now, positions=[position], fields={position: "event"}, check_plan=False
            )
        override = None
        written = next((e for e in parsed.administrations() if e.index == position), None)
        if isinstance(written, AdministrationEvent):
            if outside_workflow is not None:
                _not_in_workflow(course.id, data, outside_workflow)
            because = guards.require_override(
                parsed,
                written,
                field="event.override_reason",
                policy=policy,
                outside_workflow=outside_workflow is not None,
                state=outside_workflow or "ordered",
            )
            if because or written.override_reason:
                override = _override_record(position, written.override_reason, because)
        if data.get("type") in ("reschedule", "dose_change"):
            guards.check_move(
                parsed, position, (now or clock()).date(), field="event", policy=policy
            )
        day = data.get("date")
        today = (now or clock()).date()
        dates = {today}
        if isinstance(day, str):
            dates.add(date.fromisoformat(day))
        decided = guards.check_decidable(parsed, document, dates, field="event", policy=policy)
    except InvalidInput as exc:
        exc.field = _event_field(exc.field, position)
        exc.args = (f"{exc.field}: {exc.message}",)
        raise
    return override, parsed, decided[today], today


def _store_decision(
    uow: UnitOfWork,
    course_id: int,
    version: int,
    on: date,
    decision: Mapping[str, Any],
    *,
    policy: Any,
    at: datetime,
) -> None:
    """Store the course's decision for ``on`` at ``version`` in the write's own transaction
    (``inoplan.services.decision_store``): the Today list reads it instead of recomputing."""
    from inoplan.services.decision_store import fingerprint, stored_row

    uow.current_decisions.upsert(
        [
            stored_row(
                key=uow.audit.key(),
                course_id=course_id,
                course_version=version,
                on=on,
                fingerprint=fingerprint(policy),
                decision=decision,
                at=at,
            )
        ]
    )


@dataclass(frozen=True, slots=True)
class _Parsed:
    version: int
    written_at: datetime  # the course's updated_at at that version
    datas: tuple[dict[str, Any], ...]
    course: Any  # the domain course parsed from them


class ParsedCourses:
    """The course each worker last validated, by course id, with its version and the time of
    the write that made that version.

    What a course is at one version never changes (events are append-only; the course row only
    changes by a write that raises the version), so :meth:`load` uses an entry only for the
    version read from the course row for this write, or as the first part of a newer version
    written by another worker: then only the later events are read and validated into it, after
    checking that the newest event the entry holds is still the one stored at that place,
    written at that time (a restored database that went another way is read in full). Either
    way the answer is what parsing the whole stored document gives. Bounded: the least recently
    used courses go first.
    """

    def __init__(self, size: int = 256) -> None:
        import threading
        from collections import OrderedDict

        self._size = size
        self._lock = threading.Lock()
        self._items: OrderedDict[int, _Parsed] = OrderedDict()

    def get(self, course: CourseRecord) -> tuple[tuple[dict[str, Any], ...], Any] | None:
        """The entry for exactly this version of the course, or None."""
        found = self._entry(course)
        if found is None or found.version != course.version:
            return None
        if found.written_at != course.updated_at or len(found.datas) != course.event_count:
            return None
        return found.datas, found.course

    def _entry(self, course: CourseRecord) -> _Parsed | None:
        with self._lock:
            found = self._items.get(course.id)
            if found is not None:
                self._items.move_to_end(course.id)
        return found

    def load(
        self, course: CourseRecord, events: Callable[..., Sequence[EventRecord]]
    ) -> tuple[tuple[dict[str, Any], ...], Any]:
        """The stored events' data and the parsed course (None: parse the whole document).

        ``events(course_id, start=...)`` reads stored events from a position on.
        """
        from inoplan.document.io import extend_course

        exact = self.get(course)
        if exact is not None:
            return exact
        found = self._entry(course)
        if found is not None and found.version < course.version and found.datas:
            last = len(found.datas) - 1
            newer = list(events(course.id, start=last))
            anchor = newer[0] if newer else None
            if (
                anchor is not None
                and anchor.position == last
                and anchor.recorded_at == found.written_at
                and anchor.data == found.datas[-1]
                and len(found.datas) + len(newer) - 1 == course.event_count
            ):
                parsed = found.course
                datas = list(found.datas)
                try:
                    for record in newer[1:]:
                        parsed = extend_course(parsed, record.data, len(datas))
                        datas.append(record.data)
                except InvalidInput:
                    parsed = None  # the whole parse names the event at fault
                if parsed is not None:
                    return tuple(datas), parsed
        return tuple(e.data for e in events(course.id)), None

    def put(
        self,
        course_id: int,
        version: int,
        written_at: datetime,
        datas: tuple[dict[str, Any], ...],
        parsed: Any,
    ) -> None:
        with self._lock:
            self._items[course_id] = _Parsed(version, written_at, datas, parsed)
            self._items.move_to_end(course_id)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


#: The process's parsed courses (``append_event`` validates only the new event against them).
PARSED_COURSES = ParsedCourses()


def _load(uow_factory: UowFactory, course_id: int) -> tuple[CourseRecord, CourseDocumentJson]:
    with uow_factory() as uow:
        course = uow.courses.get(course_id)
        if course is None:
            raise NotFound(f"course {course_id} does not exist")
        events = uow.courses.events(course_id)
    return course, _assemble(course, events)


def course_document(uow_factory: UowFactory, course_id: int) -> StoredCourseJson:
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


def export_document(uow_factory: UowFactory, course_id: int) -> CourseDocumentJson:
    """The course document alone (no service fields), readable by ``inoplan evaluate``."""
    return _load(uow_factory, course_id)[1]


def list_courses(
    uow_factory: UowFactory,
    *,
    offset: int = 0,
    limit: int = 50,
    patient: str | None = None,
    patient_key: int | None = None,
) -> Page[CourseRecord]:
    """Courses, oldest first; ``patient`` (the clinic's id) or ``patient_key`` (the opaque id
    that URLs carry) narrows them to one patient."""
    with uow_factory() as uow:
        rows, count = uow.courses.list(
            offset=offset, limit=limit, patient=patient, patient_key=patient_key
        )
    return Page(data=rows, count=count, offset=offset, limit=limit)


def list_patients(
    uow_factory: UowFactory, *, offset: int = 0, limit: int = 50
) -> Page[PatientRecord]:
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


def _policy_kwargs(policy: SitePolicy | None) -> dict[str, Any]:
    return {} if policy is None else {"policy": policy}


def plan_course(
    uow_factory: UowFactory, course_id: int, *, on: date, policy: SitePolicy | None = None
) -> CoursePlanJson:
    """The calendar of the course as of ``on`` (as ``inoplan plan --on --json``): what is known
    by then and the decision of that day, so a plan and a decision of one date agree. Every
    adapter passes the date it decides for (the clinic's today by default); no implicit today.

    Raises ``InvalidInput`` (``on``) for a date outside 1900-01-01 .. 2099-12-31.
    """
    from inoplan.document.plausibility import check_date
    from inoplan.services.courses import plan_document

    check_date(on, "on")
    course, document = _load(uow_factory, course_id)
    plan: PlanJson = to_json_value(plan_document(document, on, **_policy_kwargs(policy)))
    plan.setdefault("disclaimer", DISCLAIMER)
    return {**plan, "course_id": course.id, "course_version": course.version}


def show_decision(
    uow_factory: UowFactory,
    course_id: int,
    on: date,
    *,
    actor: str,
    clock: Clock = utc_now,
    policy: SitePolicy | None = None,
) -> ShownDecisionJson:
    """Decide the course on ``on`` (as ``inoplan evaluate``), record it as shown, return it.

    The decision is computed outside the write transaction; the record of it (the full JSON,
    the course version and document hash it was computed from, the label revision, the engine
    version, who and when) and its audit record are written together.
    """
    from inoplan.document.plausibility import check_date
    from inoplan.services.audit import append_audit
    from inoplan.services.courses import decide_document

    check_date(on, "on")
    course, document = _load(uow_factory, course_id)
    decision: DecisionJson = to_json_value(decide_document(document, on, **_policy_kwargs(policy)))
    decision.setdefault("disclaimer", DISCLAIMER)
    inputs = {
        "course_id": course.id,
        "course_version": course.version,
        "events": len(document["events"]),
        "document_sha256": document_sha256(document),
        "on": on.isoformat(),
    }
    now = clock()
    label_revision = decision["label_revision"] or course.label_revision
    engine_version = decision["engine_version"] or __version__
    status = decision["status"]
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


#: Decision statuses that stop treatment and must be acknowledged by a prescriber.
ACKNOWLEDGE_STATUSES = ("discontinue",)


def is_acknowledged(
    decision: Mapping[str, Any], acknowledgement: AcknowledgementRecord | None
) -> bool:
    """Whether ``acknowledgement`` covers this decision: the same status, and every rule that
    decides it now was already acknowledged (a new reason to stop needs a new acknowledgement).
    """
    if acknowledgement is None:
        return False
    return acknowledges(
        acknowledgement.status,
        acknowledgement.rules,
        str(decision.get("status")),
        deciding_rules(decision),
    )


def acknowledge_course(
    uow_factory: UowFactory,
    course_id: int,
    on: date,
    *,
    actor: str,
    note: str | None = None,
    policy: SitePolicy | None = None,
    clock: Clock = utc_now,
) -> AcknowledgementRecord:
    """Record that a prescriber acknowledged the course's decision to stop treatment on ``on``.

    The decision is computed as the decision endpoint computes it; only a decision to
    discontinue can be acknowledged. The acknowledgement (status, the rules that decided it,
    the course version) and its audit record are written together.

    Raises
    ------
    NotFound
        No such course.
    Conflict
        The decision for ``on`` is not to discontinue: there is nothing to acknowledge.
    """
    from inoplan.document.plausibility import check_date
    from inoplan.services.audit import append_audit
    from inoplan.services.courses import decide_document

    check_date(on, "on")
    course, document = _load(uow_factory, course_id)
    decision: DecisionJson = to_json_value(decide_document(document, on, **_policy_kwargs(policy)))
    status = decision["status"]
    if status not in ACKNOWLEDGE_STATUSES:
        raise Conflict(
            f"the decision for course {course_id} on {on.isoformat()} is {status!r}, not "
            "'discontinue': there is no stop to acknowledge"
        )
    rules = deciding_rules(decision)
    now = clock()
    with uow_factory(write=True) as uow:
        record: AcknowledgementRecord = uow.acknowledgements.add(
            course_id=course_id,
            course_version=course.version,
            status=status,
            rules=list(rules),
            as_of=on,
            note=note,
            at=now,
            by=actor,
        )
        append_audit(
            uow,
            actor=actor,
            action="course.acknowledge",
            entity="acknowledgement",
            entity_id=str(record.id),
            course_id=course_id,
            after={
                "status": status,
                "rules": list(rules),
                "as_of": on.isoformat(),
                "course_version": course.version,
                "note": note,
            },
            at=now,
        )
        uow.commit()
    return record


def acknowledgements(
    uow_factory: UowFactory, course_ids: Sequence[int]
) -> dict[int, AcknowledgementRecord]:
    """The newest acknowledgement of each course (courses without one are left out)."""
    if not course_ids:
        return {}
    with uow_factory() as uow:
        found: dict[int, AcknowledgementRecord] = uow.acknowledgements.latest(list(course_ids))
    return found


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
