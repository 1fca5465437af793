"""Domain values -> the JSON shapes of docs/cli.md and docs/decision.md (numbers, not strings).

One place for the conversion so every adapter (CLI, REST, CDS Hooks, web) prints the same.
Each shape is a ``TypedDict`` (the JSON object itself, key order as documented): the adapters
print it unchanged and the type checker knows every key.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from inoplan import DISCLAIMER

if TYPE_CHECKING:  # start-up: ``dose`` loads no planner, ``bsa`` not even the label's types
    from inoplan.domain.dosing import PreparedDose
    from inoplan.domain.engine.values import Decision
    from inoplan.domain.label import Citation
    from inoplan.domain.planner import PlannedDose, TreatmentPlan

__all__ = [
    "CitationJson",
    "CoursePlanJson",
    "CycleJson",
    "DeadlinesJson",
    "Number",
    "PlanDecisionJson",
    "PlanJson",
    "PlannedDoseJson",
    "PreparedJson",
    "jsonable",
    "plan_to_json",
    "prepared_to_json",
]

#: A JSON number as printed: an integer when the value is whole.
Number = float | int


class CitationJson(TypedDict):
    citation: str
    confidence: str


class PlannedDoseJson(TypedDict):
    """One dose of ``inoplan plan`` (docs/cli.md)."""

    cycle: int
    day: int
    scheduled: str
    earliest: str
    latest: str | None
    dose_mg_per_m2: Number | None
    dose_mg: Number | None
    calculated_dose_mg: Number | None
    status: str
    provisional: bool
    given_on: str | None
    time: str
    duration_min: int
    regimen: str
    limited_from_mg_per_m2: Number | None


class CycleJson(TypedDict):
    cycle: int
    start: str
    length_days: int
    regimen: str
    after_cr_cri: bool
    provisional: bool


class CriticalAlertJson(TypedDict):
    code: str
    message: str


class PlanDecisionJson(TypedDict):
    """The decision of the plan's date, in short."""

    status: str
    as_of: str
    reason: str | None
    citation: str | None
    critical_alerts: list[CriticalAlertJson]


class PlanJson(TypedDict):
    """``inoplan plan --json`` (docs/cli.md); the first five keys only with a decision
    (``as_of`` with a date)."""

    as_of: NotRequired[str]
    status: NotRequired[str]
    decision_status: NotRequired[str]
    next_dose: NotRequired[PlannedDoseJson | None]
    decision: NotRequired[PlanDecisionJson]
    patient_id: str
    label_revision: str
    cycle_cap: int
    bsa_m2: Number | None
    bsa_formula: str
    height_cm: Number | None
    weight_kg: Number | None
    height_date: str | None
    weight_date: str | None
    rounding: str
    discontinued_on: str | None
    cycles: list[CycleJson]
    doses: list[PlannedDoseJson]
    notes: list[str]
    citations: list[CitationJson]
    disclaimer: str


class CoursePlanJson(PlanJson):
    """``GET /courses/{id}/plan`` (``records.plan_course``): the plan and the stored course's
    id and version."""

    course_id: int
    course_version: int


class DeadlinesJson(TypedDict):
    reconstituted_at: str
    dilute_by: str | None
    start_infusion_by: str | None
    infusion_end_by: str | None


class _PreparedHead(TypedDict):
    """The numbers of the preparation, then its clocks when a time is known."""

    vial: str
    vial_name: str
    vials: int
    reconstitution_ml_per_vial: Number | None
    reconstituted_mg_per_ml: Number | None
    withdraw_ml: Number | None
    diluent: str
    diluent_ml: Number | None
    final_volume_ml: Number | None
    concentration_mg_per_ml: Number | None
    concentration_range_mg_per_ml: list[Number | None]
    reduced_final_volume: bool
    infusion_rate_ml_per_h: Number | None
    infusion_minutes: int
    waste_mg: Number | None
    deadlines: NotRequired[DeadlinesJson]


class PreparedJson(_PreparedHead):
    """The preparation part of ``inoplan dose`` (docs/cli.md); ``deadlines`` only with a time
    of reconstitution."""

    notes: list[str]
    preparation_citations: list[CitationJson]


def number(value: Decimal | int | None) -> Number | None:
    """A Decimal as a JSON number: integers stay integers, others become floats."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    return int(value) if value == value.to_integral_value() else float(value)


_PLAIN = frozenset({str, int, float, bool, type(None)})


def jsonable(value: Any) -> Any:
    """Recursively convert Decimals, dates and tuples into JSON-ready values."""
    kind = type(value)  # the common exact types first; subclasses take the general way below
    if kind in _PLAIN:
        return value
    if kind is dict:
        return {str(k): jsonable(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [jsonable(v) for v in value]
    if kind is Decimal:
        return number(value)
    if kind is date:
        return value.isoformat()
    if isinstance(value, Decimal):
        return number(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M")
    from inoplan.domain.label import Citation  # loaded by then: a Citation comes from a label

    if isinstance(value, Citation):
        return value.text
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def citation_json(citation: Citation) -> CitationJson:
    return {"citation": citation.text, "confidence": citation.confidence}


def dose_to_json(dose: PlannedDose) -> PlannedDoseJson:
    return {
        "cycle": dose.cycle,
        "day": dose.day,
        "scheduled": dose.scheduled.isoformat(),
        "earliest": dose.earliest.isoformat(),
        "latest": dose.latest.isoformat() if dose.latest else None,
        "dose_mg_per_m2": number(dose.dose_mg_per_m2),
        "dose_mg": number(dose.dose_mg),
        "calculated_dose_mg": number(dose.calculated_dose_mg),
        "status": dose.status,
        "provisional": dose.provisional,
        "given_on": dose.given_on.isoformat() if dose.given_on else None,
        "time": dose.time.strftime("%H:%M"),
        "duration_min": dose.duration_min,
        "regimen": dose.schedule_id,
        "limited_from_mg_per_m2": number(dose.limited_from),
    }


def plan_to_json(
    plan: TreatmentPlan,
    *,
    label_id: str,
    patient_id: str,
    as_of: date | None = None,
    decision: Decision | None = None,
) -> PlanJson:
    """docs/cli.md, ``inoplan plan``: the calendar as of a date, with that date's decision."""
    body = plan.body
    head: _PlanHead = {}
    if as_of is not None:
        head["as_of"] = as_of.isoformat()
    if decision is not None:
        deciding = next((r for r in decision.reasons if r.verdict == decision.status), None)
        first = next((d for d in plan.doses if d.status in ("planned", "held")), None)
        head["status"] = decision.status  # the decision's status as of ``as_of``
        head["decision_status"] = decision.status
        head["next_dose"] = dose_to_json(first) if first is not None else None
        head["decision"] = {
            "status": decision.status,
            "as_of": decision.as_of.isoformat(),
            "reason": deciding.message if deciding else None,
            "citation": deciding.citation if deciding else None,
            "critical_alerts": [
                {"code": a.code, "message": a.message}
                for a in decision.alerts
                if a.severity == "critical"
            ],
        }
    return {
        **head,
        "patient_id": patient_id,
        "label_revision": label_id,
        "cycle_cap": plan.cycle_cap,
        "bsa_m2": number(body.bsa_m2),
        "bsa_formula": body.formula.value,
        "height_cm": number(body.height_cm),
        "weight_kg": number(body.weight_kg),
        "height_date": body.height_on.isoformat() if body.height_on else None,
        "weight_date": body.weight_on.isoformat() if body.weight_on else None,
        "rounding": plan.rounding,
        "discontinued_on": plan.discontinued_on.isoformat() if plan.discontinued_on else None,
        "cycles": [
            {
                "cycle": c.cycle,
                "start": c.start.isoformat(),
                "length_days": c.length_days,
                "regimen": c.schedule_id,
                "after_cr_cri": c.in_remission,
                "provisional": c.provisional,
            }
            for c in plan.cycles
        ],
        "doses": [dose_to_json(d) for d in plan.doses],
        "notes": list(plan.notes),
        "citations": [citation_json(c) for c in plan.citations],
        "disclaimer": DISCLAIMER,
    }


class _PlanHead(TypedDict, total=False):
    as_of: str
    status: str
    decision_status: str
    next_dose: PlannedDoseJson | None
    decision: PlanDecisionJson


def prepared_to_json(prepared: PreparedDose) -> PreparedJson:
    """The preparation part of ``inoplan dose`` (docs/cli.md)."""
    head: _PreparedHead = {
        "vial": prepared.vial.id,
        "vial_name": prepared.vial.name,
        "vials": prepared.vials,
        "reconstitution_ml_per_vial": number(prepared.reconstitution_ml_per_vial),
        "reconstituted_mg_per_ml": number(prepared.reconstituted_mg_per_ml),
        "withdraw_ml": number(prepared.withdraw_ml),
        "diluent": prepared.diluent,
        "diluent_ml": number(prepared.diluent_ml),
        "final_volume_ml": number(prepared.final_volume_ml),
        "concentration_mg_per_ml": number(prepared.concentration_mg_per_ml),
        "concentration_range_mg_per_ml": [
            number(v) for v in prepared.concentration_range_mg_per_ml
        ],
        "reduced_final_volume": prepared.reduced_volume,
        "infusion_rate_ml_per_h": number(prepared.infusion_rate_ml_per_h),
        "infusion_minutes": prepared.infusion_minutes,
        "waste_mg": number(prepared.waste_mg),
    }
    if prepared.prepared_at is not None:
        head["deadlines"] = {
            "reconstituted_at": prepared.prepared_at.strftime("%H:%M"),
            "dilute_by": prepared.dilute_by,
            "start_infusion_by": prepared.start_infusion_by,
            "infusion_end_by": prepared.infusion_end_by,
        }
    return {
        **head,
        "notes": list(prepared.notes),
        "preparation_citations": [citation_json(c) for c in prepared.citations],
    }
