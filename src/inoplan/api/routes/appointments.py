"""Appointments (``inoplan.services.appointments``): the booked time of a treatment day.

``PUT /courses/{id}/days/{cycle}/{day}/appointment`` books or re-books the time the patient
comes for that dose, on the date the engine plans it (another date is a ``422`` naming the
planned one: a prescriber moves the day with a ``reschedule`` first); ``version`` (the booking's
current version, 0 for none) makes a re-booking fail with ``409`` when someone else changed it.
``DELETE`` cancels it. Both are audited in the course's chain; ``day.schedule`` permission.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from inoplan.api.deps import DatabaseDep, PolicyDep, permission
from inoplan.api.openapi import errors
from inoplan.api.routes.courses import CourseId, clinic_now
from inoplan.services import appointments
from inoplan.services.auth import Principal

router = APIRouter(prefix="/courses", tags=["treatment days"])

Cycle = Annotated[int, Path(ge=1, le=6, description="Cycle number")]
Day = Annotated[int, Path(ge=1, le=28, description="Treatment day of the cycle: 1, 8 or 15")]


class AppointmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    starts_at: AwareDatetime = Field(
        description="When the patient is booked, with its UTC offset (e.g. 2027-03-08T09:30+01:00)"
    )
    note: str | None = Field(default=None, max_length=200, description="Chair, room (one line)")
    version: int | None = Field(
        default=None,
        ge=0,
        description="The booking's version as last read (0: none yet); a stale one is a 409",
    )


class AppointmentPublic(BaseModel):
    cycle: int
    day: int
    starts_at: dt.datetime = Field(description="On the clinic's clock")
    time: str = Field(description="HH:MM on the clinic's clock")
    note: str | None
    planned: dt.date | None = Field(description="The date the engine plans the dose for")
    moved: bool = Field(description="The plan no longer gives the dose on the booked date")
    version: int


@router.put(
    "/{course_id}/days/{cycle}/{day}/appointment",
    response_model=AppointmentPublic,
    responses=errors(401, 403, 404, 409, 422),
)
def book(
    course_id: CourseId,
    cycle: Cycle,
    day: Day,
    body: AppointmentIn,
    request: Request,
    database: DatabaseDep,
    policy: PolicyDep,
    principal: Annotated[Principal, Depends(permission("day.schedule"))],
) -> AppointmentPublic:
    """Book the time of a dose still to give, on the date the engine plans it."""
    booked = appointments.book(
        database,
        course_id,
        cycle,
        day,
        body.starts_at,
        actor=principal.username,
        role=principal.role,
        now=clinic_now(request),
        note=body.note,
        expected_version=body.version,
        policy=policy,
    )
    return AppointmentPublic.model_validate(booked.as_json())


@router.delete(
    "/{course_id}/days/{cycle}/{day}/appointment",
    status_code=204,
    responses=errors(401, 403, 404, 409, 422),
)
def cancel(
    course_id: CourseId,
    cycle: Cycle,
    day: Day,
    request: Request,
    database: DatabaseDep,
    principal: Annotated[Principal, Depends(permission("day.schedule"))],
) -> Response:
    """Cancel the booking of a dose (404 when there is none)."""
    appointments.cancel(
        database,
        course_id,
        cycle,
        day,
        actor=principal.username,
        role=principal.role,
        now=clinic_now(request),
    )
    return Response(status_code=204)
