"""Builders for engine tests: the standard course of the tests, written by hand.

Standard patient: male born 1985-06-15, no reproductive potential, 170 cm / 70 kg
(Mosteller 1.82 m2: 0.8 mg/m2 -> 1.46 mg, 0.5 -> 0.91, 0.6 -> 1.09, 0.375 -> 0.68).
Calendar: C1D1 2027-03-01, D8 03-08, D15 03-15, C2D1 03-22 (21-day cycle 1), later cycles 28 days
(C3D1 04-19, C4D1 05-17, C5D1 06-14, C6D1 07-12).
"""

from __future__ import annotations

import copy
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

START = date(2027, 3, 1)
BSA = Decimal("1.82")


def d(text: str) -> date:
    return date.fromisoformat(text)


def mg(per_m2: str | Decimal, bsa: Decimal = BSA) -> float:
    return float((Decimal(str(per_m2)) * bsa).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def labs(
    on: date | str,
    *,
    anc: float | None = 1.5,
    platelets: float | None = 100,
    bilirubin: float | None = 0.6,
    ast: float | None = 25,
    alt: float | None = 22,
    blasts: float | None = 2.0,
    transfused: bool = False,
    bilirubin_uln: float = 1.2,
    enzyme_uln: float = 40,
    **extra: Any,
) -> dict[str, Any]:
    event: dict[str, Any] = {"date": str(on), "type": "labs"}
    if anc is not None:
        event["anc"] = {"value": anc, "unit": "10*9/L"}
    if platelets is not None:
        event["platelets"] = {"value": platelets, "unit": "10*9/L", "transfused": transfused}
    if bilirubin is not None:
        event["bilirubin"] = {"value": bilirubin, "unit": "mg/dL", "uln": bilirubin_uln}
    if ast is not None:
        event["ast"] = {"value": ast, "unit": "U/L", "uln": enzyme_uln}
    if alt is not None:
        event["alt"] = {"value": alt, "unit": "U/L", "uln": enzyme_uln}
    if blasts is not None:
        event["peripheral_blasts"] = {"value": blasts, "unit": "10*9/L"}
    event.update(extra)
    return event


def given(on: date | str, cycle: int, day: int, dose_mg: float) -> dict[str, Any]:
    return {
        "date": str(on),
        "type": "administration",
        "cycle": cycle,
        "day": day,
        "dose_mg": dose_mg,
    }


def vitals(
    on: date | str, height_cm: float | None = 170, weight_kg: float | None = 70, **extra: Any
) -> dict[str, Any]:
    event: dict[str, Any] = {"date": str(on), "type": "vitals"}
    if height_cm is not None:
        event["height_cm"] = height_cm
    if weight_kg is not None:
        event["weight_kg"] = weight_kg
    event.update(extra)
    return event


def tox(on: date | str, term: str, grade: int, **extra: Any) -> dict[str, Any]:
    return {"date": str(on), "type": "toxicity", "term": term, "grade": grade, **extra}


def response(on: date | str, status: str, **extra: Any) -> dict[str, Any]:
    return {"date": str(on), "type": "response", "status": status, **extra}


def workup() -> list[dict[str, Any]]:
    return [
        vitals("2027-02-26"),
        {"date": "2027-02-26", "type": "ecg", "qtcf_ms": 430},
        labs("2027-02-28"),
    ]


def document(
    events: list[dict[str, Any]] | None = None,
    *,
    label: str = "us",
    workup_events: bool = True,
    patient: dict[str, Any] | None = None,
    history: dict[str, Any] | None = None,
    plan: dict[str, Any] | None = None,
) -> dict[str, Any]:
    base_patient: dict[str, Any] = {
        "id": "T-1",
        "birth_date": "1985-06-15",
        "sex": "male",
        "reproductive_potential": False,
        "allergies": [],
        "history": {
            "liver_disease": "none",
            "prior_vod": False,
            "prior_hsct": False,
            "gilbert_syndrome": False,
            "salvage_line": 1,
            **(history or {}),
        },
    }
    base_patient.update(patient or {})
    base_plan = {
        "start_date": START.isoformat(),
        "hsct_intended": False,
        "bsa_formula": "mosteller",
    }
    base_plan.update(plan or {})
    return {
        "label": label,
        "patient": base_patient,
        "plan": base_plan,
        "events": (workup() if workup_events else []) + copy.deepcopy(events or []),
    }


# The standard calendar: (cycle, day) -> date, with later cycles of 28 days.
CALENDAR: dict[tuple[int, int], date] = {}
_c_start = START
for _cycle in range(1, 7):
    for _day in (1, 8, 15):
        CALENDAR[(_cycle, _day)] = _c_start + timedelta(days=_day - 1)
    _c_start += timedelta(days=21 if _cycle == 1 else 28)


def course_through(
    last: tuple[int, int],
    *,
    in_remission_from: int | None = None,
    with_labs: bool = True,
) -> list[dict[str, Any]]:
    """Administrations on the standard calendar up to ``last`` (inclusive), labs the day before.

    ``in_remission_from``: a CR response is recorded before this cycle's day 1 (its day 1 is then
    0.5 mg/m2).
    """
    events: list[dict[str, Any]] = []
    for (cycle, day), on in sorted(CALENDAR.items()):
        if (cycle, day) > last:
            break
        if with_labs and (cycle, day) != (1, 1):
            events.append(labs(on - timedelta(days=1)))
            if day == 1:
                events.append(vitals(on - timedelta(days=1)))
        if in_remission_from is not None and cycle == in_remission_from and day == 1:
            events.append(response(on - timedelta(days=2), "CR", mrd_negative=False))
        per_m2 = (
            "0.8"
            if day == 1 and (in_remission_from is None or cycle < in_remission_from)
            else "0.5"
        )
        events.append(given(on, cycle, day, mg(per_m2)))
    return events


def decide(doc: dict[str, Any], on: date | str, **kwargs: Any) -> dict[str, Any]:
    from inoplan.services.courses import decide_document

    return dict(decide_document(doc, date.fromisoformat(str(on)), **kwargs))


def rules(decision: dict[str, Any]) -> list[str]:
    return [r["rule"] for r in decision["reasons"]]


def codes(decision: dict[str, Any]) -> list[str]:
    return [a["code"] for a in decision["alerts"]]


def reason(decision: dict[str, Any], rule: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [r for r in decision["reasons"] if r["rule"] == rule]
    assert found, f"no reason {rule}; got {rules(decision)}"
    return found[0]
