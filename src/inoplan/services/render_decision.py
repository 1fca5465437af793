"""The decision as docs/decision.md JSON (numbers as numbers, dates as ISO text)."""

from __future__ import annotations

from typing import Any

from inoplan import DISCLAIMER
from inoplan.domain.engine.values import Decision
from inoplan.domain.label import Label
from inoplan.services.render import jsonable, number

__all__ = ["decision_to_json"]


def decision_to_json(decision: Decision, *, label: Label | None = None) -> dict[str, Any]:
    """docs/decision.md. ``modifications`` lists the active codes; details beside them."""
    next_dose = decision.next_dose
    out: dict[str, Any] = {
        "label": decision.label,
        "label_revision": decision.label_revision,
        "engine_version": decision.engine_version,
        "as_of": decision.as_of.isoformat(),
        "patient_id": decision.patient_id,
        "status": decision.status,
        "next_dose": None
        if next_dose is None
        else {
            "cycle": next_dose.cycle,
            "day": next_dose.day,
            "scheduled": next_dose.scheduled.isoformat(),
            "earliest": next_dose.earliest.isoformat(),
            "latest": next_dose.latest.isoformat() if next_dose.latest else None,
            "dose_mg_per_m2": number(next_dose.dose_mg_per_m2),
            "dose_mg": number(next_dose.dose_mg),
            "bsa_m2": number(next_dose.bsa_m2),
            "regimen": next_dose.regimen,
            "provisional": next_dose.provisional,
            "status": next_dose.status,
            "due": next_dose.due,
            "days_late": next_dose.late_days,
            "limited_from_mg_per_m2": number(next_dose.limited_from),
        },
        "modifications": [m.code for m in decision.modifications],
        "modification_details": [
            {
                "code": m.code,
                "from_cycle": m.from_cycle,
                "factor": number(m.factor),
                "days": list(m.days) if m.days else None,
                "pending": m.pending,
                "citation": m.citation,
                "interpretation": m.interpretation,
            }
            for m in decision.modifications
        ],
        "omitted_doses": [{"cycle": c, "day": d} for c, d in decision.omitted_doses],
        "key_dates": {
            "contraception_until": _iso(decision.key_dates.contraception_until),
            "no_breastfeeding_until": _iso(decision.key_dates.no_breastfeeding_until),
            "provisional": decision.key_dates.provisional,
            "last_dose_on": _iso(decision.key_dates.last_dose_on),
        },
        "current": {"cycle": decision.current_cycle, "day": decision.current_day},
        "reasons": [
            {
                "rule": r.rule,
                "citation": r.citation,
                "message": r.message,
                "inputs": jsonable(r.inputs),
                **({"interpretation": r.interpretation} if r.interpretation else {}),
                **({"confidence": r.confidence} if r.confidence else {}),
                **({"verdict": r.verdict} if r.verdict else {}),
            }
            for r in decision.reasons
        ],
        "alerts": [
            {
                "severity": a.severity,
                "code": a.code,
                "message": a.message,
                "citation": a.citation,
                **({"inputs": jsonable(a.inputs)} if a.inputs else {}),
            }
            for a in decision.alerts
        ],
        "notes": list(decision.notes),
        "course_state": jsonable(decision.state),
        "disclaimer": DISCLAIMER,
    }
    if label is not None:
        out["label_name"] = label.name
    return out


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
