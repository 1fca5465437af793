"""The Today list over REST: the web's Today list (``inoplan.web.views.today_view``) as JSON.

``GET /today`` returns one page of every course's stored decision for a day (the stored rows
of ``services.decisions.day_decisions``, each checked against its MAC), filtered as the web page
filters (``show``, ``for``), sorted critical items first across pages, with the counts that say
how many critical items the whole list holds and how many fall on other pages. The patient
filter of the web page is not offered here: a patient identifier never goes in a URL.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from inoplan import DISCLAIMER
from inoplan.api.deps import DatabaseDep, PolicyDep, permission
from inoplan.api.openapi import errors
from inoplan.api.routes.appointments import AppointmentPublic
from inoplan.api.routes.courses import checked_date, clinic_now
from inoplan.services.auth import Principal

router = APIRouter(prefix="/today", tags=["today"])

#: The most rows one page returns.
MAX_PER_PAGE = 200
#: The highest page number accepted (far above any clinic's list).
MAX_PAGE = 100_000
#: The web page's "Show" choices.
Show = Literal["action", "all", "give", "hold", "cannot_decide", "wait", "complete", "discontinue"]


class WaitsForPublic(BaseModel):
    key: str = Field(description="What the course waits for: labs, release, verification, ...")
    words: str
    action: str = Field(description="The permission that acts on it (docs/permissions.md)")


class TodayRowPublic(BaseModel):
    course_id: int
    patient_id: str
    patient_name: str
    status: str = Field(description="The decision's status, or `error` (see `error`)")
    reason: str = Field(description="The first reason with its citation")
    next_dose: dict[str, Any] | None
    critical: int
    warnings: int
    critical_codes: list[str] = Field(
        description="`DECISION_ROW_TAMPERED` first when the stored row failed its MAC"
    )
    rules: list[str]
    acknowledged: bool
    needs_acknowledgement: bool
    urgent: bool = Field(description="A critical alert, an unacknowledged stop or an error")
    error: str
    day_state: str
    waits_for: WaitsForPublic | None
    tampered: str = Field(description="Why the stored row was not trusted; empty when it was")
    appointment: AppointmentPublic | None = Field(
        description="The due dose's booked time (`moved`: the plan moved the dose since)"
    )


class TodayPublic(BaseModel):
    on: dt.date
    show: str
    role: str
    page: int
    pages: int
    per_page: int
    first: int = Field(description="The position of this page's first row in the list (from 1)")
    shown_total: int = Field(description="Rows in the filtered list, all pages")
    total: int = Field(description="Courses in all, before the filters")
    urgent_total: int = Field(description="Critical items in the filtered list, all pages")
    urgent_earlier: int
    urgent_later: int = Field(description="Critical items on the pages after this one")
    counts: dict[str, int] = Field(description="Courses per status, before the filters")
    data: list[TodayRowPublic]
    disclaimer: str


def _row(row: Any) -> TodayRowPublic:
    waits = row.waits
    return TodayRowPublic(
        course_id=row.course_id,
        patient_id=row.patient_id,
        patient_name=row.patient_name,
        status=row.status,
        reason=row.reason,
        next_dose=dict(row.next_dose) if row.next_dose else None,
        critical=row.critical,
        warnings=row.warnings,
        critical_codes=list(row.critical_codes),
        rules=list(row.rules),
        acknowledged=row.acknowledged,
        needs_acknowledgement=row.needs_acknowledgement,
        urgent=row.urgent,
        error=row.error,
        day_state=row.day_state,
        waits_for=None
        if waits is None
        else WaitsForPublic(key=waits[0], words=waits[1], action=waits[2]),
        tampered=row.tampered,
        appointment=None
        if row.appointment is None
        else AppointmentPublic.model_validate(row.appointment.as_json()),
    )


@router.get("", response_model=TodayPublic, responses=errors(401, 403, 422))
def today_list(
    request: Request,
    database: DatabaseDep,
    policy: PolicyDep,
    principal: Annotated[Principal, Depends(permission("course.read"))],
    on: Annotated[dt.date | None, Query(description="The day (default: today)")] = None,
    show: Annotated[Show, Query(description="`action` (default), `all` or one status")] = (
        "action"
    ),
    role: Annotated[
        Literal["prescriber", "pharmacist", "nurse"] | None,
        Query(alias="for", description="Only the rows this role acts on, and every urgent row"),
    ] = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = 100,
) -> TodayPublic:
    """Every course's decision for a day, one page: critical items first across pages (page 1
    holds every one unless there are more than a page's worth: ``urgent_later`` counts the
    rest), then by status. A page past the end returns the last page."""
    from inoplan.web.views import today_view

    day = checked_date(on, "on") or clinic_now(request).date()
    view = today_view(
        database,
        principal,
        day,
        show=show,
        role=role or "",
        policy=policy,
        page=page,
        per_page=per_page,
        clinic=clinic_now(request).tzinfo or dt.UTC,
        today=clinic_now(request).date(),
    )
    return TodayPublic(
        on=day,
        show=view["show"],
        role=view["role"],
        page=view["page"],
        pages=view["pages"],
        per_page=per_page,
        first=view["first"],
        shown_total=view["shown_total"],
        total=view["total"],
        urgent_total=view["urgent_total"],
        urgent_earlier=view["urgent_earlier"],
        urgent_later=view["urgent_later"],
        counts=view["counts"],
        data=[_row(r) for r in view["rows"]],
        disclaimer=DISCLAIMER,
    )
