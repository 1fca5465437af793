"""Courses: create, read, export, append events, plan, decision, decisions shown, audit,
acknowledgements of a decision to discontinue.

Every write passes the caller's role and the clinic's clock to the records service, which runs
the write-time guards (``inoplan.services.guards``); every date parameter is checked against the
sane date window (``inoplan.document.plausibility.check_date``): 422, never 500.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from inoplan import DISCLAIMER
from inoplan.api.deps import DatabaseDep, PolicyDep, any_permission, permission
from inoplan.api.openapi import errors
from inoplan.api.problems import PreconditionRequired
from inoplan.api.schemas import (
    AcknowledgementIn,
    AcknowledgementPublic,
    AuditPublic,
    AuditRecordPublic,
    ConfirmationIn,
    CoursesPublic,
    CourseSummary,
    CourseWritten,
    DecisionPublic,
    DecisionRecordPublic,
    DecisionRecordsPublic,
    ExposurePublic,
    PlanPublic,
)
from inoplan.document.models import CourseDocument, EventDoc
from inoplan.errors import InvalidInput
from inoplan.services import records
from inoplan.services.auth import Principal
from inoplan.services.common import ascii_int
from inoplan.services.guards import authorize_event

router = APIRouter(prefix="/courses", tags=["courses"])

MAX_ID = 2**53 - 1
CourseId = Annotated[int, Path(ge=1, le=MAX_ID, description="Course id")]
Reader = Annotated[Principal, Depends(permission("course.read"))]


def _if_match(value: str | None) -> int:
    if value is None:
        raise PreconditionRequired(
            "If-Match: <version> is required (the course version you last read)"
        )
    text = value.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    number = ascii_int(text)
    if number is None or not 1 <= number <= MAX_ID:
        raise InvalidInput("If-Match", f"{value!r} is not a course version (a positive integer)")
    return number


def _etag(version: int) -> str:
    return f'"{version}"'


@router.get("", response_model=CoursesPublic, responses=errors(401, 403, 422))
def list_courses(
    database: DatabaseDep,
    _: Reader,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    patient_key: Annotated[
        int | None,
        Query(ge=1, le=MAX_ID, description="Only this patient's courses (the opaque key)"),
    ] = None,
) -> CoursesPublic:
    """Courses visible to the caller (every course of the clinic), oldest first, paginated.
    Filter by the patient's opaque key; the clinic's identifier never goes in a URL (find the
    key with ``POST /patients/search``)."""
    page = records.list_courses(database, offset=offset, limit=limit, patient_key=patient_key)
    return CoursesPublic(
        data=[CourseSummary.model_validate(c, from_attributes=True) for c in page.data],
        count=page.count,
        offset=page.offset,
        limit=page.limit,
    )


@router.post(
    "",
    status_code=201,
    response_model=CourseWritten,
    responses=errors(401, 403, 409, 422),
)
def create_course(
    document: CourseDocument,
    database: DatabaseDep,
    policy: PolicyDep,
    request: Request,
    principal: Annotated[Principal, Depends(permission("course.create"))],
    response: Response,
) -> CourseWritten:
    """Store a new course document (validated as ``inoplan evaluate`` validates it); version 1.

    Refused (422, nothing stored) besides: an entry dated in the future, a recorded dose against
    the decision without ``override_reason``, a course that could not be decided.
    """
    data = document.model_dump(mode="json", exclude_unset=True, exclude={"id", "version"})
    ref = records.create_course(
        database,
        data,
        actor=principal.username,
        role=principal.role,
        now=clinic_now(request),
        policy=policy,
    )
    response.headers["Location"] = f"/api/v1/courses/{ref.id}"
    response.headers["ETag"] = _etag(ref.version)
    return CourseWritten(id=ref.id, version=ref.version)


@router.get(
    "/{course_id}",
    response_model=CourseDocument,
    responses=errors(401, 403, 404, 422),
)
def get_course(course_id: CourseId, database: DatabaseDep, _: Reader) -> JSONResponse:
    """The course document exactly as stored, with ``id`` and ``version`` (also the ETag)."""
    document = records.course_document(database, course_id)
    return JSONResponse(document, headers={"ETag": _etag(document["version"])})


@router.get(
    "/{course_id}/export",
    response_model=CourseDocument,
    responses=errors(401, 403, 404, 422),
)
def export_course(course_id: CourseId, database: DatabaseDep, _: Reader) -> JSONResponse:
    """The course document alone, as a file that ``inoplan evaluate`` reads."""
    document = records.export_document(database, course_id)
    return JSONResponse(
        document,
        headers={"Content-Disposition": f'attachment; filename="course-{course_id}.json"'},
    )


@router.post(
    "/{course_id}/events",
    status_code=201,
    response_model=CourseWritten,
    responses=errors(401, 403, 404, 409, 422, 428),
)
def append_event(
    course_id: CourseId,
    event: Annotated[EventDoc, Body()],
    database: DatabaseDep,
    policy: PolicyDep,
    request: Request,
    principal: Annotated[Principal, Depends(any_permission("event."))],
    response: Response,
    if_match: Annotated[
        str | None,
        Header(alias="If-Match", description="The course version the event is based on"),
    ] = None,
) -> CourseWritten:
    """Append one event (append-only; a correction supersedes an earlier event by id; a
    ``void`` withdraws an entry made in error).

    Needs ``event.<type>`` (a dose with ``override_reason``: ``dose.override`` instead), and for
    a correction or a void also the permission to record the target (403 otherwise). A dose
    recorded for a day the decision holds, on a discontinued course, above the per-dose or
    per-cycle maximum or fewer than 6 days from another dose is refused (422,
    ``field: event.override_reason``, ``because``) unless it carries ``override_reason``. An
    entry dated in the future, or one after which the course could not be decided, is refused
    (422).
    """
    data: dict[str, Any] = event.model_dump(mode="json", exclude_unset=True)
    authorize_event(principal.role, data)  # the target of a correction: in the service
    expected = _if_match(if_match)
    ref = records.append_event(
        database,
        course_id,
        data,
        expected_version=expected,
        actor=principal.username,
        role=principal.role,
        now=clinic_now(request),
        policy=policy,
    )
    response.headers["ETag"] = _etag(ref.version)
    return CourseWritten(id=ref.id, version=ref.version, position=ref.extra.get("position"))


@router.get("/{course_id}/plan", response_model=PlanPublic, responses=errors(401, 403, 404, 422))
def course_plan(
    course_id: CourseId,
    database: DatabaseDep,
    policy: PolicyDep,
    request: Request,
    _: Reader,
    on: Annotated[
        dt.date | None,
        Query(
            description="The date the plan is as of, as the decision of that date sees it "
            "(default: today in the clinic's time zone)"
        ),
    ] = None,
) -> JSONResponse:
    """The calendar of every dose up to the cycle cap as of ``on`` (as ``inoplan plan --on
    --json``): the same date gives the same plan as the decision, the calendar and FHIR."""
    day = checked_date(on, "on") or _today(request)
    return JSONResponse(records.plan_course(database, course_id, on=day, policy=policy))


@router.get(
    "/{course_id}/decision",
    response_model=DecisionPublic,
    responses=errors(401, 403, 404, 422),
)
def course_decision(
    course_id: CourseId,
    database: DatabaseDep,
    policy: PolicyDep,
    request: Request,
    principal: Reader,
    on: Annotated[
        dt.date | None,
        Query(description="Date to decide for (default: today in the clinic's time zone)"),
    ] = None,
) -> JSONResponse:
    """The decision for ``on`` (as ``inoplan evaluate --json``); recorded in the audit trail."""
    day = checked_date(on, "on") or _today(request)
    decision = records.show_decision(
        database, course_id, day, actor=principal.username, policy=policy
    )
    return JSONResponse(decision)


def clinic_now(request: Request) -> dt.datetime:
    """Now on the clinic's clock (``INOPLAN_CLINIC_TIMEZONE``): what "the future" is measured by."""
    from zoneinfo import ZoneInfo

    return dt.datetime.now(ZoneInfo(request.app.state.settings.clinic_timezone))


def _today(request: Request) -> dt.date:
    return clinic_now(request).date()


def checked_date(value: dt.date | None, field: str) -> dt.date | None:
    """A date parameter inside the accepted window (1900-01-01 to 2099-12-31), else 422."""
    from inoplan.document.plausibility import check_date

    return None if value is None else check_date(value, field)


@router.post(
    "/{course_id}/acknowledgements",
    status_code=201,
    response_model=AcknowledgementPublic,
    responses=errors(401, 403, 404, 409, 422),
)
def acknowledge_course(
    course_id: CourseId,
    body: AcknowledgementIn,
    database: DatabaseDep,
    policy: PolicyDep,
    request: Request,
    principal: Annotated[Principal, Depends(permission("course.acknowledge"))],
) -> AcknowledgementPublic:
    """A prescriber acknowledges that the course's decision is to discontinue.

    Until then the course stays in the default Today list; a later decision to discontinue for
    a new reason (another rule) needs a new acknowledgement. 409 when the decision for ``on``
    is not to discontinue. Recorded in the audit trail (``course.acknowledge``).
    """
    day = checked_date(body.on, "on") or _today(request)
    record = records.acknowledge_course(
        database, course_id, day, actor=principal.username, note=body.note, policy=policy
    )
    return AcknowledgementPublic.model_validate(record, from_attributes=True)


MAX_API_POPULATION = 500  # larger populations: ``inoplan pk`` (optionally on Dask)


@router.get(
    "/{course_id}/exposure",
    response_model=ExposurePublic,
    responses=errors(401, 403, 404, 422),
)
def course_exposure(
    course_id: CourseId,
    database: DatabaseDep,
    policy: PolicyDep,
    _: Reader,
    population: Annotated[
        int | None, Query(ge=1, le=MAX_API_POPULATION, description="Virtual subjects")
    ] = None,
    seed: Annotated[int | None, Query(ge=0, le=2**32 - 1, description="Random seed")] = None,
    series: Annotated[bool, Query(description="Include the curves with a population")] = False,
) -> JSONResponse:
    """Simulated exposure (population PK) for the course (as ``inoplan pk --json``)."""
    from inoplan.services.exposure import exposure_json

    document = records.export_document(database, course_id)
    kwargs: dict[str, Any] = {"population": population, "seed": seed, "series": series}
    if policy is not None:
        kwargs["policy"] = policy
    result = records.to_json_value(exposure_json(document, **kwargs))
    result.setdefault("disclaimer", DISCLAIMER)
    result["course_id"] = course_id
    return JSONResponse(result)


@router.get(
    "/{course_id}/decisions",
    response_model=DecisionRecordsPublic,
    responses=errors(401, 403, 404, 422),
)
def course_decisions(
    course_id: CourseId, database: DatabaseDep, _: Reader
) -> DecisionRecordsPublic:
    """Every decision shown for this course: the full JSON, inputs, who and when."""
    shown = records.course_decisions(database, course_id)
    return DecisionRecordsPublic(
        data=[DecisionRecordPublic.model_validate(d, from_attributes=True) for d in shown],
        count=len(shown),
    )


@router.post(
    "/{course_id}/decisions/{decision_id}/confirmation",
    status_code=201,
    response_model=AuditRecordPublic,
    responses=errors(401, 403, 404, 422),
)
def confirm_decision(
    course_id: CourseId,
    decision_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: ConfirmationIn,
    database: DatabaseDep,
    principal: Annotated[Principal, Depends(permission("decision.confirm"))],
) -> AuditRecordPublic:
    """A prescriber confirms a decision shown earlier (recorded in the audit trail)."""
    record = records.confirm_decision(
        database, course_id, decision_id, actor=principal.username, note=body.note
    )
    return AuditRecordPublic.model_validate(record, from_attributes=True)


@router.post(
    "/{course_id}/verifications",
    status_code=410,
    deprecated=True,
    responses=errors(401, 403, 410),
)
def verify_dose(
    course_id: CourseId,
    _: Annotated[Principal, Depends(permission("dose.verify"))],
) -> JSONResponse:
    """Retired: a dose is verified once, in the treatment-day workflow
    (``POST /courses/{id}/days/{cycle}/{day}/verify``), which checks the decision, the released
    dose and the order of the steps. This route stored an audit record beside that path and
    changed nothing; it now answers ``410 Gone`` naming the route to use, and stores nothing."""
    from inoplan.api.problems import problem

    return problem(
        410,
        "this route is retired: verify the dose in the treatment-day workflow, "
        f"POST /api/v1/courses/{course_id}/days/{{cycle}}/{{day}}/verify with the dose in mg "
        "(after its release); nothing was stored",
        replacement=f"/api/v1/courses/{course_id}/days/{{cycle}}/{{day}}/verify",
    )


@router.get(
    "/{course_id}/audit",
    response_model=AuditPublic,
    responses=errors(401, 403, 404, 422),
)
def course_audit(
    course_id: CourseId,
    database: DatabaseDep,
    _: Annotated[Principal, Depends(permission("audit.read"))],
) -> AuditPublic:
    """Who did what to this course and when, oldest first (hash-chained records)."""
    trail = records.course_audit(database, course_id)
    return AuditPublic(
        data=[AuditRecordPublic.model_validate(r, from_attributes=True) for r in trail],
        count=len(trail),
    )
