"""Domain values -> the JSON shapes of docs/cli.md and docs/decision.md (numbers, not strings).

One place for the conversion so every adapter (CLI, REST, CDS Hooks, web) prints the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from inoplan import DISCLAIMER

if TYPE_CHECKING:  # start-up: ``dose`` loads no planner, ``bsa`` not even the label's types
    from inoplan.domain.dosing import PreparedDose
    from inoplan.domain.engine.values import Decision
    from inoplan.domain.label import Citation
    from inoplan.domain.planner import PlannedDose, TreatmentPlan

__all__ = ["jsonable", "plan_to_json", "prepared_to_json"]


def number(value: Decimal | int | None) -> float | int | None:
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


def citation_json(citation: Citation) -> dict[str, str]:
    return {"citation": citation.text, "confidence": citation.confidence}


def dose_to_json(dose: PlannedDose) -> dict[str, Any]:
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
) -> dict[str, Any]:
    """docs/cli.md, ``inoplan plan``: the calendar as of a date, with that date's decision."""
    body = plan.body
    head: dict[str, Any] = {}
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


def prepared_to_json(prepared: PreparedDose) -> dict[str, Any]:
    """The preparation part of ``inoplan dose`` (docs/cli.md)."""
    out: dict[str, Any] = {
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
        out["deadlines"] = {
            "reconstituted_at": prepared.prepared_at.strftime("%H:%M"),
            "dilute_by": prepared.dilute_by,
            "start_infusion_by": prepared.start_infusion_by,
            "infusion_end_by": prepared.infusion_end_by,
        }
    out["notes"] = list(prepared.notes)
    out["preparation_citations"] = [citation_json(c) for c in prepared.citations]
    return out
