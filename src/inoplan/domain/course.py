"""A patient's course as immutable domain values, built from a validated course document.

Quantities are already in canonical units (see ``units``); lab results keep what was reported
for display. ``Course.events`` holds only the events that count (superseded ones removed),
sorted by date with the document order kept for equal dates. Pure.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, time
from decimal import Decimal
from typing import TypeAlias, TypeVar

from inoplan.domain.body import BsaFormula

__all__ = [
    "AdministrationEvent",
    "Course",
    "CoursePlan",
    "DiscontinuationEvent",
    "EcgEvent",
    "Event",
    "History",
    "HsctEvent",
    "LabValue",
    "LabsEvent",
    "MedicationEvent",
    "Patient",
    "PregnancyTestEvent",
    "ResponseEvent",
    "ToxicityEvent",
    "VitalsEvent",
    "VoidEvent",
    "age_years",
]


@dataclass(frozen=True, slots=True)
class History:
    liver_disease: str = "none"  # none | prior | ongoing
    prior_vod: bool = False
    prior_hsct: bool = False
    gilbert_syndrome: bool = False
    salvage_line: int | None = None  # 1 = first salvage


@dataclass(frozen=True, slots=True)
class Patient:
    id: str
    birth_date: date
    sex: str  # female | male
    reproductive_potential: bool | None = None
    breastfeeding: bool | None = None
    allergies: tuple[str, ...] = ()
    history: History = field(default_factory=History)
    name: str | None = None  # the second identifier on screens and printouts


@dataclass(frozen=True, slots=True)
class CoursePlan:
    start_date: date
    hsct_intended: bool | None = None  # None = undecided, planned like False
    cycle1_days: int = 21
    vial: str = "us-0.9mg"
    bsa_formula: BsaFormula = BsaFormula.MOSTELLER


@dataclass(frozen=True, slots=True)
class LabValue:
    """One result in canonical units; ``reported_*`` keep what the lab printed."""

    analyte: str
    value: Decimal
    unit: str
    reported_value: Decimal
    reported_unit: str
    uln: Decimal | None = None  # canonical unit
    lln: Decimal | None = None
    transfused: bool = False

    @property
    def x_uln(self) -> Decimal | None:
        """The value as a multiple of the upper limit of normal, when one was given."""
        if self.uln is None or self.uln <= 0:
            return None
        return self.value / self.uln


@dataclass(frozen=True, slots=True)
class _EventBase:
    date: date
    id: str | None
    index: int  # position in the document; ties on the same date keep this order
    supersedes: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class VitalsEvent(_EventBase):
    height_cm: Decimal | None = None
    weight_kg: Decimal | None = None
    hepatomegaly: bool | None = None
    ascites: bool | None = None
    type: str = "vitals"


@dataclass(frozen=True, slots=True)
class LabsEvent(_EventBase):
    values: Mapping[str, LabValue] = field(default_factory=dict)
    peripheral_blasts_pct: Decimal | None = None
    marrow_blasts_pct: Decimal | None = None
    type: str = "labs"


@dataclass(frozen=True, slots=True)
class AdministrationEvent(_EventBase):
    cycle: int = 1
    day: int = 1
    dose_mg: Decimal = Decimal(0)
    time: time = time(9, 0)
    duration_min: int = 60
    override_reason: str | None = None  # recorded against the decision, with its reason
    type: str = "administration"


@dataclass(frozen=True, slots=True)
class ToxicityEvent(_EventBase):
    term: str = ""
    grade: int = 0
    related: bool = True
    type: str = "toxicity"


@dataclass(frozen=True, slots=True)
class ResponseEvent(_EventBase):
    status: str = "NR"  # CR | CRi | PR | NR | relapse
    mrd_negative: bool | None = None
    disease_stable_or_improved: bool | None = None
    cytopenia_due_to_disease: bool | None = None
    type: str = "response"


@dataclass(frozen=True, slots=True)
class MedicationEvent(_EventBase):
    name: str = ""
    action: str = "start"  # start | stop
    type: str = "medication"


@dataclass(frozen=True, slots=True)
class EcgEvent(_EventBase):
    qtcf_ms: Decimal = Decimal(0)
    type: str = "ecg"


@dataclass(frozen=True, slots=True)
class PregnancyTestEvent(_EventBase):
    result: str = "negative"  # negative | positive
    type: str = "pregnancy_test"


@dataclass(frozen=True, slots=True)
class HsctEvent(_EventBase):
    conditioning: tuple[str, ...] = ()
    planned: bool = False
    type: str = "hsct"


@dataclass(frozen=True, slots=True)
class DiscontinuationEvent(_EventBase):
    reason_text: str = ""
    type: str = "discontinuation"


@dataclass(frozen=True, slots=True)
class VoidEvent(_EventBase):
    """Withdraws the event named by ``supersedes`` (entered in error); counts for nothing else."""

    type: str = "void"


Event: TypeAlias = (
    VitalsEvent
    | LabsEvent
    | AdministrationEvent
    | ToxicityEvent
    | ResponseEvent
    | MedicationEvent
    | EcgEvent
    | PregnancyTestEvent
    | HsctEvent
    | DiscontinuationEvent
    | VoidEvent
)
E = TypeVar("E", bound=_EventBase)


@dataclass(frozen=True, slots=True)
class Course:
    """One patient's course: the plan and what happened, ready for the planner and engine."""

    label: str  # "us", "eu" or a revision id
    patient: Patient
    plan: CoursePlan
    events: tuple[Event, ...]  # effective events only, sorted by (date, index)
    superseded: tuple[Event, ...] = ()  # kept for the record, never used for decisions
    voids: tuple[VoidEvent, ...] = ()  # "entered in error" records, each naming its target

    def of_type(self, kind: type[E]) -> Iterator[E]:
        """The effective events of one type, in date order."""
        return (e for e in self.events if isinstance(e, kind))

    def administrations(self) -> tuple[AdministrationEvent, ...]:
        return tuple(self.of_type(AdministrationEvent))

    def before(self, day: date, *, inclusive: bool = True) -> Iterator[Event]:
        return (e for e in self.events if (e.date <= day if inclusive else e.date < day))


def age_years(birth_date: date, on: date) -> int:
    """Completed years of age on a date.

    >>> born = date(2023, 2, 14)
    >>> age_years(born, date(2027, 2, 13)), age_years(born, date(2027, 2, 14))
    (3, 4)
    """
    years = on.year - birth_date.year
    if (on.month, on.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years
