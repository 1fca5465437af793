"""API bodies (``*In``) and responses (``*Public``). The course document reuses CourseDocument.

Responses built from a service's typed result (a frozen dataclass of ``inoplan.services``) read
it directly (``Model.model_validate(result, from_attributes=True)``); where the public name
differs from the service's, the field says so with a validation alias (the JSON keeps the
public name).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from inoplan import DISCLAIMER
from inoplan.document.models import PatientId


class Problem(BaseModel):
    """An error (RFC 9457 problem details). ``field`` names the input at fault (422)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    field: str | None = None
    errors: list[dict[str, str]] | None = None
    because: list[str] | None = Field(
        default=None,
        description="Why a dose needs an override (a held day, a stopped course, a hard limit); "
        "record it again with override_reason, as a prescriber, if it was deliberate",
    )


class TokenPublic(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Lifetime in seconds")


class MePublic(BaseModel):
    username: str
    role: str
    permissions: list[str]


class HealthPublic(BaseModel):
    status: str = "ok"


class ReadyPublic(BaseModel):
    """Readiness: ``ready`` only when the database answers and its schema is at head."""

    status: str
    database: str
    migrations: str


class CourseWritten(BaseModel):
    """A write was stored: the course id and its new version (use it as the next If-Match)."""

    id: int
    version: int
    position: int | None = Field(
        default=None, description="Index of the appended event in the course's events"
    )


class CourseSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    version: int
    patient_id: str = Field(validation_alias=AliasChoices("patient_id", "patient_external_id"))
    label: str
    label_revision: str
    start_date: dt.date
    events: int = Field(validation_alias=AliasChoices("events", "event_count"))
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime


class CoursesPublic(BaseModel):
    data: list[CourseSummary]
    count: int
    offset: int
    limit: int


class PatientPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    key: int = Field(
        description="Opaque id of the patient record: what URLs carry",
        validation_alias=AliasChoices("key", "id"),  # PatientRecord.id
    )
    id: str = Field(
        description="The clinic's patient identifier (never a name; never in a URL)",
        validation_alias=AliasChoices("external_id", "id"),  # PatientRecord.external_id
    )
    birth_date: dt.date
    sex: str
    course_ids: list[int]


class PatientSearch(BaseModel):
    """Find a patient by the clinic's identifier, sent in the body so it is never in a URL."""

    model_config = ConfigDict(extra="forbid")
    id: PatientId


class PatientsPublic(BaseModel):
    data: list[PatientPublic]
    count: int
    offset: int
    limit: int


class NextDosePublic(BaseModel):
    model_config = ConfigDict(extra="allow")
    cycle: int
    day: int


class ReasonPublic(BaseModel):
    model_config = ConfigDict(extra="allow")
    rule: str
    citation: str
    message: str


class AlertPublic(BaseModel):
    model_config = ConfigDict(extra="allow")
    severity: str
    code: str
    message: str


class DecisionPublic(BaseModel):
    """The decision (docs/decision.md), plus where it was recorded."""

    model_config = ConfigDict(extra="allow")
    label: str
    label_revision: str
    engine_version: str
    as_of: dt.date
    status: str
    next_dose: NextDosePublic | None
    modifications: list[Any]
    omitted_doses: list[Any]
    key_dates: dict[str, Any]
    reasons: list[ReasonPublic]
    alerts: list[AlertPublic]
    disclaimer: str = DISCLAIMER
    decision_id: int = Field(description="The record of this decision as shown")
    course_id: int
    course_version: int


class PlanPublic(BaseModel):
    """The calendar as of ``as_of`` (as ``inoplan plan --on --json``, docs/cli.md)."""

    model_config = ConfigDict(extra="allow")
    as_of: str
    status: str
    decision_status: str
    next_dose: dict[str, Any] | None = None
    decision: dict[str, Any]
    patient_id: str
    label_revision: str
    cycle_cap: int
    bsa_m2: float | None = None
    bsa_formula: str | None = None
    height_cm: float | None = None
    weight_kg: float | None = None
    height_date: str | None = None
    weight_date: str | None = None
    rounding: str | None = None
    discontinued_on: str | None = None
    cycles: list[dict[str, Any]]
    doses: list[dict[str, Any]]
    notes: list[str] = []
    citations: list[dict[str, Any]] = []
    disclaimer: str = DISCLAIMER
    course_id: int
    course_version: int


class ExposurePublic(BaseModel):
    """Simulated exposure (as ``inoplan pk --json``, docs/exposure.md)."""

    model_config = ConfigDict(extra="allow")
    model: str
    cycles: list[dict[str, Any]]
    cumulative_auc_ng_h_per_ml: Any
    disclaimer: str = DISCLAIMER
    course_id: int


class DecisionRecordPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    course_version: int
    as_of: dt.date
    status: str
    label_revision: str
    engine_version: str
    shown_at: dt.datetime
    shown_to: str
    inputs: dict[str, Any]
    decision: dict[str, Any]


class DecisionRecordsPublic(BaseModel):
    data: list[DecisionRecordPublic]
    count: int
    disclaimer: str = DISCLAIMER


class AuditRecordPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
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
    chain: str
    chain_seq: int
    scheme: str
    key_id: str | None


class AuditPublic(BaseModel):
    data: list[AuditRecordPublic]
    count: int


class ConfirmationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=500)


class AcknowledgementIn(BaseModel):
    """A prescriber acknowledges that the course's decision is to discontinue."""

    model_config = ConfigDict(extra="forbid")
    on: dt.date | None = Field(
        default=None, description="The decision date (default: today in the clinic's time zone)"
    )
    note: str | None = Field(default=None, max_length=500)


class AcknowledgementPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    course_id: int
    course_version: int
    status: str
    rules: list[str] = Field(description="The rules that decided the status, now acknowledged")
    as_of: dt.date
    note: str | None
    acknowledged_at: dt.datetime
    acknowledged_by: str


class ChainReportPublic(BaseModel):
    ok: bool
    checked: int
    first_broken_seq: int | None
    problem: str | None
    message: str
    problems: list[str] = []
    keyed: int = 0
    legacy: int = 0
    legacy_anchored: bool = False
    chains: int = 0
    courses: int = 0
    events: int = 0
    unanchored_chains: int = 0
    decision_rows: int = Field(
        default=0, description="Stored decisions (the Today list's rows) checked against their MAC"
    )


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(
        min_length=1,
        max_length=256,
        description="At least 12 characters; not a common password, not containing the user "
        "name or the word 'password' (docs/permissions.md)",
    )
    role: str


class UserChange(BaseModel):
    """Change a user's role or deactivate/reactivate them (ends all of their sessions)."""

    model_config = ConfigDict(extra="forbid")
    role: str | None = None
    active: bool | None = None


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str = Field(min_length=1, max_length=256)


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    username: str
    role: str
    active: bool
    created_at: dt.datetime


class UsersPublic(BaseModel):
    data: list[UserPublic]
    count: int
