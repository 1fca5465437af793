"""The decision as docs/decision.md JSON (numbers as numbers, dates as ISO text).

:class:`DecisionJson` is that JSON object as a ``TypedDict`` (key order as documented): the
adapters print it as it is and the type checker knows its keys.
"""

from __future__ import annotations

from datetime import date
from typing import Any, NotRequired, TypedDict

from inoplan import DISCLAIMER
from inoplan.domain.engine.values import Alert, Decision, Reason
from inoplan.domain.label import Label
from inoplan.services.render import Number, jsonable, number

__all__ = [
    "AlertJson",
    "DecisionJson",
    "KeyDatesJson",
    "ModificationJson",
    "NextDoseJson",
    "ReasonJson",
    "ShownDecisionJson",
    "decision_to_json",
]


class NextDoseJson(TypedDict):
    cycle: int
    day: int
    scheduled: str
    earliest: str
    latest: str | None
    dose_mg_per_m2: Number | None
    dose_mg: Number | None
    bsa_m2: Number | None
    regimen: str
    provisional: bool
    status: str
    due: bool
    days_late: int
    limited_from_mg_per_m2: Number | None


class ModificationJson(TypedDict):
    code: str
    from_cycle: int
    factor: Number | None
    days: list[int] | None
    pending: bool
    citation: str
    interpretation: str | None


class CycleDayJson(TypedDict):
    cycle: int
    day: int


class KeyDatesJson(TypedDict):
    contraception_until: str | None
    no_breastfeeding_until: str | None
    provisional: bool
    last_dose_on: str | None


class CurrentJson(TypedDict):
    cycle: int | None
    day: int | None


class ReasonJson(TypedDict):
    """Why: the rule, its source, the message and the inputs it read; ``interpretation``,
    ``confidence`` and ``verdict`` only when the rule has them."""

    rule: str
    citation: str
    message: str
    inputs: Any  # the inputs as JSON, as the rule read them
    interpretation: NotRequired[str]
    confidence: NotRequired[str]
    verdict: NotRequired[str]


class AlertJson(TypedDict):
    severity: str
    code: str
    message: str
    citation: str
    inputs: NotRequired[Any]  # only when the alert names its inputs


class DecisionJson(TypedDict):
    """docs/decision.md; ``label_name`` when the label is known."""

    label: str
    label_revision: str
    engine_version: str
    as_of: str
    patient_id: str
    status: str
    next_dose: NextDoseJson | None
    modifications: list[str]
    modification_details: list[ModificationJson]
    omitted_doses: list[CycleDayJson]
    key_dates: KeyDatesJson
    current: CurrentJson
    reasons: list[ReasonJson]
    alerts: list[AlertJson]
    notes: list[str]
    course_state: Any  # the engine's course state, as JSON
    disclaimer: str
    label_name: NotRequired[str]


class ShownDecisionJson(DecisionJson):
    """``GET /courses/{id}/decision`` (``records.show_decision``): the decision, the record of
    it as shown, and the course it was computed from."""

    decision_id: int
    course_id: int
    course_version: int


def _reason_json(r: Reason) -> ReasonJson:
    out: ReasonJson = {
        "rule": r.rule,
        "citation": r.citation,
        "message": r.message,
        "inputs": jsonable(r.inputs),
    }
    if r.interpretation:
        out["interpretation"] = r.interpretation
    if r.confidence:
        out["confidence"] = r.confidence
    if r.verdict:
        out["verdict"] = r.verdict
    return out


def _alert_json(a: Alert) -> AlertJson:
    out: AlertJson = {
        "severity": a.severity,
        "code": a.code,
        "message": a.message,
        "citation": a.citation,
    }
    if a.inputs:
        out["inputs"] = jsonable(a.inputs)
    return out


def decision_to_json(decision: Decision, *, label: Label | None = None) -> DecisionJson:
    """docs/decision.md. ``modifications`` lists the active codes; details beside them."""
    next_dose = decision.next_dose
    out: DecisionJson = {
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
        "reasons": [_reason_json(r) for r in decision.reasons],
        "alerts": [_alert_json(a) for a in decision.alerts],
        "notes": list(decision.notes),
        "course_state": jsonable(decision.state),
        "disclaimer": DISCLAIMER,
    }
    if label is not None:
        out["label_name"] = label.name
    return out


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None
