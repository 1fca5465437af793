"""Treatment-day states of a course (``inoplan.services.workflow``): the roadmap and the steps.

``GET /courses/{id}/days`` lays out cycles x days with each dose's state and lab parameters;
``POST /courses/{id}/days/{cycle}/{day}/{step}`` moves one dose: ``release`` (prescriber),
``verify`` (pharmacist), ``prepare`` and ``give`` (each with an independent second signer who
gives their own user name and password; a wrong one is a ``422`` on ``second_signer_password``
and counts towards that account's login throttle, ``429`` when it is blocked), ``withdraw``.
The same service is behind the web pages; the clinic's clock decides what "today" is.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from inoplan.api.deps import DatabaseDep, PolicyDep, permission
from inoplan.api.openapi import errors
from inoplan.api.routes.courses import MAX_ID, CourseId, checked_date, clinic_now
from inoplan.services import workflow
from inoplan.services.auth import Principal

router = APIRouter(prefix="/courses", tags=["treatment days"])

Cycle = Annotated[int, Path(ge=1, le=6, description="Cycle number")]
Day = Annotated[int, Path(ge=1, le=28, description="Treatment day of the cycle: 1, 8 or 15")]
_ = MAX_ID


class Note(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=500)


class VerifyIn(Note):
    dose_mg: float = Field(gt=0, le=10, description="The dose checked, in mg")


class SecondSignerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256, description="Typed by the second signer")


class PrepareIn(Note):
    lot: str = Field(min_length=1, max_length=40)
    expiry: dt.date
    prepared_at: dt.time | None = Field(default=None, description="Reconstituted at (HH:MM)")
    second_signer: SecondSignerIn


PremedicationAgent = Literal["corticosteroid", "antipyretic", "antihistamine"]


class GiveIn(Note):
    started_at: dt.time
    ended_at: dt.time
    premedication: bool | list[PremedicationAgent] = Field(
        description="Premedication given before the dose: true (a corticosteroid, an antipyretic "
        "and an antihistamine, as the label asks), false (none), or the agents given"
    )
    premedication_reason: str | None = Field(
        default=None,
        max_length=500,
        description="Why premedication was not given in full (required then: 422 without it)",
    )
    reactions: str | None = Field(default=None, max_length=500)
    observation_end: dt.time
    observation_reason: str | None = Field(
        default=None,
        max_length=500,
        description="Why the observation after the infusion was shorter than the label's "
        "(at least 1 hour; required then: 422 without it)",
    )
    second_signer: SecondSignerIn


class WithdrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)


class TreatmentDayPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    course_id: int
    cycle: int
    day: int
    state: str
    version: int
    steps: dict[str, Any]
    updated_at: dt.datetime | None
    updated_by: str


def _public(day: workflow.TreatmentDay) -> TreatmentDayPublic:
    return TreatmentDayPublic.model_validate(day, from_attributes=True)


def _signer(request: Request, body: SecondSignerIn) -> workflow.SecondSigner:
    from inoplan.web.login import client_address

    return workflow.SecondSigner(
        username=body.username,
        password=body.password,
        address=client_address(request),
        channel="api",
    )


@router.get("/{course_id}/days", responses=errors(401, 403, 404, 422))
def roadmap(
    course_id: CourseId,
    request: Request,
    database: DatabaseDep,
    policy: PolicyDep,
    _: Annotated[Principal, Depends(permission("course.read"))],
    on: Annotated[dt.date | None, Query(description="As of this day (default: today)")] = None,
) -> dict[str, Any]:
    """Cycles x days: each dose's state (ordered, released, verified, prepared, given), what
    each step recorded, and the day's lab parameters (met or not, with the label source)."""
    day = checked_date(on, "on") or clinic_now(request).date()
    # workflow.RoadmapJson as it is (a typing.TypedDict, which pydantic cannot describe before
    # Python 3.12: the route keeps its open object schema)
    return dict(workflow.roadmap(database, course_id, day, policy=policy))


@router.post(
    "/{course_id}/days/{cycle}/{day}/release",
    response_model=TreatmentDayPublic,
    responses=errors(401, 403, 404, 409, 422),
)
def release(
    course_id: CourseId,
    cycle: Cycle,
    day: Day,
    body: Note,
    request: Request,
    database: DatabaseDep,
    policy: PolicyDep,
    principal: Annotated[Principal, Depends(permission("dose.release"))],
) -> TreatmentDayPublic:
    """A prescriber releases the dose; refused (409, with the decision's reason) unless the
    engine's decision for today is to give this cycle and day."""
    return _public(
        workflow.release(
            database,
            course_id,
            cycle,
            day,
            actor=principal.username,
            role=principal.role,
            now=clinic_now(request),
            note=body.note,
            policy=policy,
        )
    )


@router.post(
    "/{course_id}/days/{cycle}/{day}/verify",
    response_model=TreatmentDayPublic,
    responses=errors(401, 403, 404, 409, 422),
)
def verify(
    course_id: CourseId,
    cycle: Cycle,
    day: Day,
    body: VerifyIn,
    request: Request,
    database: DatabaseDep,
    policy: PolicyDep,
    principal: Annotated[Principal, Depends(permission("dose.verify"))],
) -> TreatmentDayPublic:
    """A pharmacist verifies the released dose (the mg checked must equal the released mg)."""
    return _public(
        workflow.verify(
            database,
            course_id,
            cycle,
            day,
            dose_mg=body.dose_mg,
            actor=principal.username,
            role=principal.role,
            now=clinic_now(request),
            note=body.note,
            policy=policy,
        )
    )


@router.post(
    "/{course_id}/days/{cycle}/{day}/prepare",
    response_model=TreatmentDayPublic,
    responses=errors(401, 403, 404, 409, 422, 429),
)
def prepare(
    course_id: CourseId,
    cycle: Cycle,
    day: Day,
    body: PrepareIn,
    request: Request,
    database: DatabaseDep,
    policy: PolicyDep,
    principal: Annotated[Principal, Depends(permission("dose.prepare"))],
) -> TreatmentDayPublic:
    """The preparation (lot, expiry, the worksheet's numbers) with an independent second
    signer (another pharmacist, who gives their own password)."""
    return _public(
        workflow.prepare(
            database,
            course_id,
            cycle,
            day,
            lot=body.lot,
            expiry=body.expiry,
            prepared_at=body.prepared_at,
            second_signer=_signer(request, body.second_signer),
            throttle=database.throttle,
            actor=principal.username,
            role=principal.role,
            now=clinic_now(request),
            note=body.note,
            policy=policy,
        )
    )


@router.post(
    "/{course_id}/days/{cycle}/{day}/give",
    response_model=TreatmentDayPublic,
    responses=errors(401, 403, 404, 409, 422, 429),
)
def give(
    course_id: CourseId,
    cycle: Cycle,
    day: Day,
    body: GiveIn,
    request: Request,
    database: DatabaseDep,
    policy: PolicyDep,
    principal: Annotated[Principal, Depends(permission("dose.give"))],
) -> TreatmentDayPublic:
    """The administration with an independent second signer: the administration event is
    recorded (write-time guards) together with the state "given"."""
    return _public(
        workflow.give(
            database,
            course_id,
            cycle,
            day,
            started_at=body.started_at,
            ended_at=body.ended_at,
            premedication=body.premedication,
            premedication_reason=body.premedication_reason,
            reactions=body.reactions,
            observation_end=body.observation_end,
            observation_reason=body.observation_reason,
            second_signer=_signer(request, body.second_signer),
            throttle=database.throttle,
            actor=principal.username,
            role=principal.role,
            now=clinic_now(request),
            note=body.note,
            policy=policy,
        )
    )


@router.post(
    "/{course_id}/days/{cycle}/{day}/withdraw",
    response_model=TreatmentDayPublic,
    responses=errors(401, 403, 404, 409, 422),
)
def withdraw(
    course_id: CourseId,
    cycle: Cycle,
    day: Day,
    body: WithdrawIn,
    request: Request,
    database: DatabaseDep,
    principal: Annotated[Principal, Depends(permission("dose.withdraw"))],
) -> TreatmentDayPublic:
    """Return a released, verified or prepared dose to "ordered", with a reason."""
    return _public(
        workflow.withdraw(
            database,
            course_id,
            cycle,
            day,
            reason=body.reason,
            actor=principal.username,
            role=principal.role,
            now=clinic_now(request),
        )
    )
