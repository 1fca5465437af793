"""Course documents for the exposure service tests (docs/course-document.md), built by hand."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

START = date(2027, 1, 4)


def adult_course(
    *,
    cycles: int = 6,
    given_cycles: int = 6,
    skip: tuple[tuple[int, int], ...] = (),
    height_cm: float = 170,
    weight_kg: float = 71.7,  # Mosteller BSA 1.84 m2, the model's reference
    blasts: list[tuple[date, float]] | None = None,
    birth_date: str = "1970-05-01",
    hsct_intended: bool = False,
) -> dict[str, Any]:
    """Scenario A (docs/pk-model.md 5.1) as administrations: 0.8/0.5/0.5 mg/m2 at BSA 1.84 m2."""
    events: list[dict[str, Any]] = [
        {
            "date": (START - timedelta(days=3)).isoformat(),
            "type": "vitals",
            "height_cm": height_cm,
            "weight_kg": weight_kg,
        },
    ]
    for on, value in blasts or []:
        events.append({"date": on.isoformat(), "type": "labs", "peripheral_blasts_pct": value})
    start = START
    for cycle in range(1, min(cycles, given_cycles) + 1):
        for day, mg in ((1, 1.47), (8, 0.92), (15, 0.92)):
            if (cycle, day) in skip:
                continue
            events.append(
                {
                    "date": (start + timedelta(days=day - 1)).isoformat(),
                    "type": "administration",
                    "cycle": cycle,
                    "day": day,
                    "dose_mg": mg,
                    "time": "09:00",
                    "duration_min": 60,
                }
            )
        start += timedelta(days=21 if cycle == 1 else 28)
    return {
        "label": "us",
        "patient": {
            "id": "PK-1",
            "birth_date": birth_date,
            "sex": "female",
            "reproductive_potential": False,
        },
        "plan": {
            "start_date": START.isoformat(),
            "hsct_intended": hsct_intended,
            "cycle1_days": 21,
            "vial": "us-0.9mg",
            "bsa_formula": "mosteller",
        },
        "events": events,
    }


def child_course(
    *, birth_date: str = "2022-02-14", blasts_10e9_per_l: float | None = 0.8
) -> dict[str, Any]:
    events: list[dict[str, Any]] = [
        {"date": "2027-06-04", "type": "vitals", "height_cm": 103, "weight_kg": 16.5},
    ]
    if blasts_10e9_per_l is not None:
        events.append(
            {
                "date": "2027-06-06",
                "type": "labs",
                "peripheral_blasts": {"value": blasts_10e9_per_l, "unit": "10*9/L"},
            }
        )
    events.append(
        {"date": "2027-06-07", "type": "administration", "cycle": 1, "day": 1, "dose_mg": 0.55}
    )
    return {
        "label": "us",
        "patient": {
            "id": "PK-CHILD",
            "birth_date": birth_date,
            "sex": "female",
            "reproductive_potential": False,
        },
        "plan": {
            "start_date": "2027-06-07",
            "hsct_intended": False,
            "vial": "us-0.9mg",
            "bsa_formula": "mosteller",
        },
        "events": events,
    }
