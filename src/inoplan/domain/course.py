"""A patient's course as immutable domain values, built from a validated course document.

Quantities are already in canonical units (see ``units``); lab results keep what was reported
for display. ``Course.events`` holds only the events that count (superseded ones removed),
sorted by date with the document order kept for equal dates. Pure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, time
from decimal import Decimal
from typing import Any, NamedTuple, TypeAlias, TypeVar

from inoplan.domain.body import BsaFormula
from inoplan.errors import InvalidInput

__all__ = [
    "DOSE_FACTS",
    "PREMEDICATION_AGENTS",
    "AdministrationEvent",
    "Course",
    "CoursePlan",
    "DiscontinuationEvent",
    "DoseChangeEvent",
    "EcgEvent",
    "Event",
    "History",
    "HsctEvent",
    "LabValue",
    "LabsEvent",
    "Link",
    "MedicationEvent",
    "Patient",
    "PlanChangeEvent",
    "PregnancyTestEvent",
    "RescheduleEvent",
    "ResponseEvent",
    "ToxicityEvent",
    "VitalsEvent",
    "VoidEvent",
    "age_years",
    "changed_dose_facts",
    "correction_targets",
    "events_memo",
    "plan_in_force",
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


#: The premedication the labels ask for before every dose, by class (US PI 2.2, EU SmPC 4.2:
#: a corticosteroid, an antipyretic and an antihistamine); the document's vocabulary.
PREMEDICATION_AGENTS: tuple[str, ...] = ("corticosteroid", "antipyretic", "antihistamine")


@dataclass(frozen=True, slots=True)
class AdministrationEvent(_EventBase):
    cycle: int = 1
    day: int = 1
    dose_mg: Decimal = Decimal(0)
    time: time = time(9, 0)
    duration_min: int = 60
    override_reason: str | None = None  # recorded against the decision, with its reason
    premedication: tuple[str, ...] | None = None  # agents given before the dose; None: unknown
    premedication_reason: str | None = None  # why an agent was not given
    observation_min: int | None = None  # minutes observed after the infusion ended
    observation_reason: str | None = None  # why the observation was shorter than the label's
    type: str = "administration"

    @property
    def premedication_missing(self) -> tuple[str, ...]:
        """The label's premedication agents not given ((): all given, or not recorded)."""
        if self.premedication is None:
            return ()
        return tuple(a for a in PREMEDICATION_AGENTS if a not in self.premedication)


#: The facts of a recorded dose that only a prescriber (``dose.override``) may change in a
#: correction (or take back with a void): its date, day, dose and the infusion care the label asks
#: for (times, premedication, observation; a reason for premedication not in full or a short
#: observation may be reworded, not added or dropped). Review H2/H3: a nurse's correction must
#: not make a dose given look not given, move the calendar, lower the mg or clear a warning.
DOSE_FACTS: tuple[str, ...] = (
    "date",
    "cycle",
    "day",
    "dose_mg",
    "time",
    "duration_min",
    "premedication",
    "premedication_reason",
    "observation_min",
    "observation_reason",
)
_DOSE_DEFAULTS: dict[str, Any] = {"time": "09:00", "duration_min": 60}
_DOSE_REASONS = ("premedication_reason", "observation_reason")


def _dose_fact(source: Mapping[str, Any] | AdministrationEvent, name: str) -> Any:
    if isinstance(source, AdministrationEvent):
        value: Any = getattr(source, name)
    else:
        value = source.get(name, _DOSE_DEFAULTS.get(name))
    if name in _DOSE_REASONS:
        return bool(value and str(value).strip())  # present or not; the wording may change
    if value is None:
        return None
    if name == "dose_mg":
        try:
            return Decimal(str(value)).normalize()
        except ArithmeticError:
            return str(value)
    if name in ("date", "time"):
        text = value if isinstance(value, str) else value.isoformat()
        return text[: 5 if name == "time" else 10]
    if name == "premedication":
        return tuple(sorted(str(v) for v in value)) if isinstance(value, list | tuple) else value
    return value


def changed_dose_facts(
    old: Mapping[str, Any] | AdministrationEvent, new: Mapping[str, Any] | AdministrationEvent
) -> tuple[str, ...]:
    """The :data:`DOSE_FACTS` a correction ``new`` of the dose ``old`` changes (document JSON or
    parsed events; ``time`` and ``duration_min`` with the document's defaults).

    >>> old = {"date": "2026-01-08", "cycle": 1, "day": 8, "dose_mg": 0.9}
    >>> changed_dose_facts(old, {**old, "dose_mg": 0.90, "time": "09:00"})
    ()
    >>> changed_dose_facts(old, {**old, "date": "2026-01-09", "dose_mg": 0.5})
    ('date', 'dose_mg')
    """
    return tuple(n for n in DOSE_FACTS if _dose_fact(old, n) != _dose_fact(new, n))


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
class PlanChangeEvent(_EventBase):
    """The plan from this date on: ``changes`` maps CoursePlan field names (``hsct_intended``,
    ``cycle1_days``, ``bsa_formula``) to their new values; ``reason`` is required."""

    changes: Mapping[str, object] = field(default_factory=dict)
    type: str = "plan_change"


@dataclass(frozen=True, slots=True)
class RescheduleEvent(_EventBase):
    """A treatment day (cycle, day) moved to ``to``, inside the label's window; ``reason`` is
    required. The planner applies it only inside the window (``domain.planner``)."""

    cycle: int = 1
    day: int = 1
    to: date | None = None
    type: str = "reschedule"


@dataclass(frozen=True, slots=True)
class DoseChangeEvent(_EventBase):
    """The dose of one treatment day lowered by the prescriber to ``dose_mg_per_m2`` (never
    above the label's dose for that day: the planner applies only a lower dose)."""

    cycle: int = 1
    day: int = 1
    dose_mg_per_m2: Decimal = Decimal(0)
    type: str = "dose_change"


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
    | PlanChangeEvent
    | RescheduleEvent
    | DoseChangeEvent
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
    #: the plan as the document wrote it; ``plan`` has every plan change applied
    initial_plan: CoursePlan | None = None

    def of_type(self, kind: type[E]) -> Iterator[E]:
        """The effective events of one type, in date order."""
        return iter(_of_type(self.events, kind))

    def administrations(self) -> tuple[AdministrationEvent, ...]:
        return tuple(self.of_type(AdministrationEvent))

    def before(self, day: date, *, inclusive: bool = True) -> Iterator[Event]:
        return (e for e in self.events if (e.date <= day if inclusive else e.date < day))


#: ``Course.of_type`` answers per events tuple: id -> (the tuple, {kind: its events}). The entry
#: holds the tuple itself, so the id cannot be reused while it is here; emptied when full.
_BY_TYPE: dict[int, tuple[tuple[Any, ...], dict[type, tuple[Any, ...]]]] = {}
_BY_TYPE_SIZE = 256


def _memo(events: tuple[Event, ...]) -> dict[Any, Any]:
    """The answers remembered for one events tuple (see :func:`events_memo`)."""
    entry = _BY_TYPE.get(id(events))
    if entry is None or entry[0] is not events:
        if len(_BY_TYPE) >= _BY_TYPE_SIZE:
            _BY_TYPE.clear()
        entry = (events, {})
        _BY_TYPE[id(events)] = entry
    return entry[1]


def events_memo(course: Course) -> dict[Any, Any]:
    """A place to remember pure answers about ``course.events`` (an immutable tuple), for as long
    as that tuple is in use: key each answer by everything else it depends on. The engine asks
    the same course view the same questions (the body in force, the events of one type) many
    times per decision."""
    return _memo(course.events)


def _of_type(events: tuple[Event, ...], kind: type[E]) -> tuple[E, ...]:
    """``tuple(e for e in events if isinstance(e, kind))``, computed once per tuple and kind."""
    memo = _memo(events)
    found = memo.get(kind)
    if found is None:
        found = tuple(e for e in events if isinstance(e, kind))
        memo[kind] = found
    return found


def plan_in_force(course: Course, on: date | None = None) -> CoursePlan:
    """The plan with the plan changes dated on or before ``on`` applied (all of them without
    ``on``), in date order, each field from its latest change."""
    plan = course.initial_plan or course.plan
    for event in course.events:
        if isinstance(event, PlanChangeEvent) and (on is None or event.date <= on):
            plan = dataclasses.replace(plan, **event.changes)  # type: ignore[arg-type]
    return plan


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


class Link(NamedTuple):
    """What :func:`correction_targets` needs of one event, in document order."""

    id: str | None
    supersedes: str | None
    type: str
    reason: str | None = "given"


def correction_targets(links: Sequence[Link]) -> dict[str, int]:
    """The one rule for corrections and voids: each target id -> the position that replaces it.

    An event naming another in ``supersedes`` replaces it (a correction, same type) or withdraws
    it (a ``void``, any type). Refused, naming the field (``events[i].supersedes``):

    - an unknown target, or the event itself; no ``reason`` (``events[i].reason``);
    - a target that is a ``void`` (an entry made in error is not corrected or withdrawn again);
    - a correction of another type (withdraw it with a ``void`` instead);
    - a target already replaced by an earlier event: two corrections (or a correction and a
      void) of one entry cannot both count, so the later one must name the entry in force (the
      message names both events and that entry). A correction that is itself withdrawn (a
      ``void`` names it) no longer counts as one: withdrawing one of two corrections recorded
      before this rule repairs such a course;
    - corrections forming a cycle (nothing would count).

    A ``void`` of a correction withdraws that correction only: the entry it corrected is in
    force again (it is not in the answer), as if the correction had never been recorded. To
    withdraw the fact itself, void that entry too (the withdrawn correction no longer stands
    in the way).

    >>> correction_targets([Link("a", None, "ecg"), Link("b", "a", "ecg"), Link("c", "b", "void")])
    {'b': 2}
    >>> correction_targets([Link("a", None, "ecg"), Link("b", "a", "ecg"), Link("c", "b", "ecg")])
    {'a': 1, 'b': 2}
    >>> correction_targets([Link("a", None, "ecg"), Link("b", "a", "ecg"), Link("c", "a", "ecg")])
    Traceback (most recent call last):
    ...
    inoplan.errors.InvalidInput: events[2].supersedes: 'a' is already corrected by events[1]; \
correct 'b' (the entry in force) instead: two corrections of one entry cannot both count
    """
    ids = {link.id: i for i, link in enumerate(links) if link.id is not None}
    withdrawn = {link.supersedes for link in links if link.type == "void" and link.supersedes}
    targets: dict[str, int] = {}
    for i, link in enumerate(links):
        if link.supersedes is None:
            continue
        field = f"events[{i}].supersedes"
        target = ids.get(link.supersedes)
        if target is None:
            raise InvalidInput(field, f"no event with id {link.supersedes!r} to correct")
        if target == i:
            raise InvalidInput(field, "an event cannot supersede itself")
        if not link.reason:
            raise InvalidInput(f"events[{i}].reason", "a correction must give its reason")
        original = links[target]
        if original.type == "void":
            raise InvalidInput(
                field, f"{link.supersedes!r} records an entry made in error; it cannot be corrected"
            )
        if link.type != "void" and link.type != original.type:
            raise InvalidInput(
                field,
                f"a {link.type} entry cannot correct {link.supersedes!r}, which is a "
                f"{original.type} entry; record a 'void' (entered in error) to withdraw it",
            )
        earlier = targets.get(link.supersedes)
        if earlier is not None and links[earlier].id not in withdrawn:
            if link.id not in withdrawn or link.id is None:
                raise InvalidInput(field, _replaced_twice(link.supersedes, earlier, links[earlier]))
            continue  # this one is withdrawn: the earlier one stays in force
        targets[link.supersedes] = i
    _refuse_cycles(links, ids)
    # a withdrawn correction replaces nothing: the entry it corrected is in force again
    return {
        target: i
        for target, i in targets.items()
        if links[i].type == "void" or links[i].id not in withdrawn
    }


def document_links(events: Iterable[Mapping[str, Any]]) -> list[Link]:
    """The :class:`Link` of each raw (stored, JSON) event, in document order: the readers of
    a stored document (web page, FHIR export) resolve corrections through
    :func:`correction_targets` too, never with a lookup of their own.

    >>> document_links([{"id": "a", "type": "ecg"}, {"type": "void", "supersedes": "a",
    ...     "reason": "wrong patient"}])[1]
    Link(id=None, supersedes='a', type='void', reason='wrong patient')
    """
    return [
        Link(e.get("id"), e.get("supersedes"), str(e.get("type")), e.get("reason")) for e in events
    ]


def _replaced_twice(target: str, earlier: int, by: Link) -> str:
    if by.type == "void":
        return (
            f"{target!r} is already withdrawn as entered in error by events[{earlier}]; "
            "it cannot be corrected or withdrawn again"
        )
    instead = (
        f"correct {by.id!r} (the entry in force) instead"
        if by.id is not None
        else "withdraw that correction first"
    )
    return (
        f"{target!r} is already corrected by events[{earlier}]; {instead}: "
        "two corrections of one entry cannot both count"
    )


def _refuse_cycles(links: Sequence[Link], ids: Mapping[str, int]) -> None:
    """Corrections naming each other in a loop (a -> b -> a): none of them would count."""
    for start, link in enumerate(links):
        path = [start]
        current = link
        while current.supersedes is not None:
            step = ids[current.supersedes]
            if step == start:
                names = " -> ".join(repr(links[p].id) for p in (*path, start))
                raise InvalidInput(
                    f"events[{start}].supersedes",
                    f"corrections form a cycle ({names}); none of them would count",
                )
            if step in path:
                break  # a cycle not through ``start``: reported from one of its own members
            path.append(step)
            current = links[step]
