"""Pydantic models of the course document, docs/course-document.md (the one schema source).

The models check types, required fields and closed vocabularies. Physical plausibility (lab
values per analyte, height, weight, QTcF, doses, dates) is checked after unit conversion by
``inoplan.document.io`` against the one table in ``inoplan.document.plausibility``; NaN and
infinities are refused here (``allow_inf_nan=False``).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
)

Number = StrictFloat | StrictInt  # JSON numbers only, never strings

#: A patient identifier: printable characters only. No control character (a CR/LF would forge
#: a line on a printout or in a log), no format character (bidi overrides such as U+202E, zero
#: widths), no separator but the plain space, none at either end; at most 64 characters.
PATIENT_ID_PATTERN = r"^[^\p{C}\p{Z}](?:(?:[^\p{C}\p{Z}]| )*[^\p{C}\p{Z}])?$"


def check_patient_id(value: str) -> str:
    """``value`` if it is a printable patient identifier (see :data:`PATIENT_ID_PATTERN`)."""
    if not value or value[0] == " " or value[-1] == " ":
        raise ValueError("must not be empty or start or end with a space")
    for c in value:
        if c != " " and unicodedata.category(c)[0] in "CZ":
            raise ValueError(
                f"must hold printable characters only (found U+{ord(c):04X}: a control, "
                "invisible, bidirectional or line-break character)"
            )
    return value


PatientId = Annotated[
    str,
    Field(min_length=1, max_length=64, json_schema_extra={"pattern": PATIENT_ID_PATTERN}),
    AfterValidator(check_patient_id),
]


#: A person's name as the clinic writes it (printable characters, as for identifiers).
PersonName = Annotated[
    str,
    Field(min_length=1, max_length=200, json_schema_extra={"pattern": PATIENT_ID_PATTERN}),
    AfterValidator(check_patient_id),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class HistoryDoc(_Model):
    liver_disease: Literal["none", "prior", "ongoing"] = "none"
    prior_vod: StrictBool = False
    prior_hsct: StrictBool = False
    gilbert_syndrome: StrictBool = False
    salvage_line: Annotated[StrictInt, Field(ge=1, le=20)] | None = None


class PatientDoc(_Model):
    id: PatientId
    # The patient's name, for the second identifier on screens and printouts (optional: a
    # document exchanged for research may carry none). Never logged, never in the audit trail.
    name: PersonName | None = None
    birth_date: dt.date
    sex: Literal["female", "male"]
    reproductive_potential: StrictBool | None = None
    breastfeeding: StrictBool | None = None
    allergies: list[Annotated[str, Field(min_length=1, max_length=200)]] = []
    history: HistoryDoc = HistoryDoc()


class PlanDoc(_Model):
    start_date: dt.date
    hsct_intended: StrictBool | None = None
    cycle1_days: Literal[21, 28] = 21
    vial: Literal["us-0.9mg", "eu-1mg"] | None = None  # default: the label region's vial
    bsa_formula: Literal["mosteller", "dubois", "haycock", "gehan-george", "boyd"] = "mosteller"


class LabValueDoc(_Model):
    value: Annotated[Number, Field(ge=0)]
    unit: str
    uln: Annotated[Number, Field(gt=0)] | None = None
    lln: Annotated[Number, Field(ge=0)] | None = None
    transfused: StrictBool = False


class _EventDoc(_Model):
    date: dt.date
    id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    supersedes: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    reason: Annotated[str, Field(max_length=500)] | None = None


class VitalsDoc(_EventDoc):
    type: Literal["vitals"]
    height_cm: Annotated[Number, Field(gt=0)] | None = None
    weight_kg: Annotated[Number, Field(gt=0)] | None = None
    hepatomegaly: StrictBool | None = None
    ascites: StrictBool | None = None


class LabsDoc(_EventDoc):
    type: Literal["labs"]
    anc: LabValueDoc | None = None
    platelets: LabValueDoc | None = None
    bilirubin: LabValueDoc | None = None
    ast: LabValueDoc | None = None
    alt: LabValueDoc | None = None
    peripheral_blasts: LabValueDoc | None = None
    wbc: LabValueDoc | None = None
    potassium: LabValueDoc | None = None
    magnesium: LabValueDoc | None = None
    peripheral_blasts_pct: Annotated[Number, Field(ge=0, le=100)] | None = None
    marrow_blasts_pct: Annotated[Number, Field(ge=0, le=100)] | None = None


#: The premedication the labels ask for before every dose, by class (US PI 2.2, EU SmPC 4.2).
PremedicationAgent = Literal["corticosteroid", "antipyretic", "antihistamine"]


class AdministrationDoc(_EventDoc):
    type: Literal["administration"]
    cycle: Annotated[StrictInt, Field(ge=1, le=6)]
    day: Literal[1, 8, 15]
    dose_mg: Annotated[Number, Field(gt=0)]  # plausible range: document/plausibility.toml
    time: Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")] = "09:00"
    duration_min: Annotated[StrictInt, Field(ge=1, le=1440)] = 60
    # A dose recorded against the decision (a held day, a stopped course, above a limit) carries
    # the prescriber's reason; the decision then shows a critical DOSE_OVERRIDE alert for good.
    override_reason: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    # What was done around the infusion (the label's premedication and observation, section 6.3
    # of docs/course-document.md); null when not recorded (a dose entered after the fact).
    premedication: list[PremedicationAgent] | None = None
    premedication_reason: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    observation_min: Annotated[StrictInt, Field(ge=0, le=1440)] | None = None
    observation_reason: Annotated[str, Field(min_length=1, max_length=500)] | None = None


class ToxicityDoc(_EventDoc):
    type: Literal["toxicity"]
    term: Annotated[str, Field(min_length=1, max_length=200)]
    grade: Annotated[StrictInt, Field(ge=0, le=5)]
    related: StrictBool = True


class ResponseDoc(_EventDoc):
    type: Literal["response"]
    status: Literal["CR", "CRi", "PR", "NR", "relapse"]
    mrd_negative: StrictBool | None = None
    disease_stable_or_improved: StrictBool | None = None
    cytopenia_due_to_disease: StrictBool | None = None


class MedicationDoc(_EventDoc):
    type: Literal["medication"]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    action: Literal["start", "stop"]


class EcgDoc(_EventDoc):
    type: Literal["ecg"]
    qtcf_ms: Annotated[Number, Field(gt=0)]  # plausible range: document/plausibility.toml


class PregnancyTestDoc(_EventDoc):
    type: Literal["pregnancy_test"]
    result: Literal["negative", "positive"]


class HsctDoc(_EventDoc):
    type: Literal["hsct"]
    conditioning: list[Annotated[str, Field(min_length=1, max_length=100)]] = []
    planned: StrictBool = False


class DiscontinuationDoc(_EventDoc):
    type: Literal["discontinuation"]
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class PlanChangeDoc(_EventDoc):
    """The prescriber changes the plan from this date on (each field given replaces the plan's
    value; the others stay); the reason is required."""

    type: Literal["plan_change"]
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    hsct_intended: StrictBool | None = None
    cycle1_days: Literal[21, 28] | None = None
    bsa_formula: Literal["mosteller", "dubois", "haycock", "gehan-george", "boyd"] | None = None


class RescheduleDoc(_EventDoc):
    """The prescriber moves one treatment day to another date inside the label's window."""

    type: Literal["reschedule"]
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    cycle: Annotated[StrictInt, Field(ge=1, le=6)]
    day: Literal[1, 8, 15]
    to: dt.date


class DoseChangeDoc(_EventDoc):
    """The prescriber lowers the dose of one treatment day below the label's (reason required)."""

    type: Literal["dose_change"]
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    cycle: Annotated[StrictInt, Field(ge=1, le=6)]
    day: Literal[1, 8, 15]
    dose_mg_per_m2: Annotated[Number, Field(gt=0)]  # below the label's dose: the planner


class VoidDoc(_EventDoc):
    """An event entered in error: it withdraws the event it names (any type); reason required."""

    type: Literal["void"]
    supersedes: Annotated[str, Field(min_length=1, max_length=64)]
    reason: Annotated[str, Field(min_length=1, max_length=500)]


EventDoc = Annotated[
    VitalsDoc
    | LabsDoc
    | AdministrationDoc
    | ToxicityDoc
    | ResponseDoc
    | MedicationDoc
    | EcgDoc
    | PregnancyTestDoc
    | HsctDoc
    | DiscontinuationDoc
    | PlanChangeDoc
    | RescheduleDoc
    | DoseChangeDoc
    | VoidDoc,
    Field(discriminator="type"),
]


class CourseDocument(_Model):
    """One patient's course of inotuzumab ozogamicin (docs/course-document.md)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
        json_schema_extra={"title": "inoplan course document (contract version 1)"},
    )

    label: Annotated[str, Field(min_length=2, max_length=32)] = "us"
    patient: PatientDoc
    plan: PlanDoc
    events: list[EventDoc] = []
    # Present when the document comes back from the service; ignored on input.
    id: str | int | None = None
    version: StrictInt | None = None
