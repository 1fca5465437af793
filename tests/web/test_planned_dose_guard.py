"""A dose recorded above the engine's plan for its day (a prescriber's ``dose_change``, Table 4)
needs an override: review H3 (services.guards.dose_override_reasons)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from inoplan.errors import OverrideRequired
from inoplan.services.records import append_event, course_document, course_version

from .conftest import TODAY

NOW = datetime(TODAY.year, TODAY.month, TODAY.day, 10, 0, tzinfo=UTC)
LOWERED = {
    "id": "dc1",
    "date": TODAY.isoformat(),
    "type": "dose_change",
    "cycle": 1,
    "day": 8,
    "dose_mg_per_m2": 0.25,
    "reason": "grade 2 toxicity",
}


def _add(db: Any, course_id: int, event: dict[str, Any], role: str) -> None:
    append_event(
        db,
        course_id,
        event,
        expected_version=course_version(db, course_id),
        actor=role,
        role=role,
        now=NOW,
    )


def _dose(mg: float, **extra: Any) -> dict[str, Any]:
    return {
        "date": TODAY.isoformat(),
        "type": "administration",
        "cycle": 1,
        "day": 8,
        "dose_mg": mg,
        "time": "09:00",
        **extra,
    }


def _given(db: Any, course_id: int) -> list[dict[str, Any]]:
    events = course_document(db, course_id)["events"]
    return [e for e in events if e.get("type") == "administration" and e.get("day") == 8]


def test_the_label_dose_after_a_lowered_dose_needs_an_override(app: Any, course_id: int) -> None:
    """Planned 0.25 mg/m2 = 0.46 mg at this BSA (the label's 0.5 mg/m2 gives 0.91 mg)."""
    db = app.state.database
    _add(db, course_id, LOWERED, "prescriber")
    with pytest.raises(OverrideRequired, match="planned for cycle 1 day 8"):
        _add(db, course_id, _dose(0.91), "nurse")
    with pytest.raises(OverrideRequired, match="planned for cycle 1 day 8"):
        _add(db, course_id, _dose(0.47), "nurse")  # one rounding step above the planned 0.46 mg
    assert _given(db, course_id) == []
    _add(db, course_id, _dose(0.46), "nurse")  # the planned dose
    assert [e["dose_mg"] for e in _given(db, course_id)] == [0.46]


def test_a_prescriber_may_override_with_a_reason_and_a_critical_alert_stays(
    app: Any, course_id: int
) -> None:
    from inoplan.services.courses import decide_document

    db = app.state.database
    _add(db, course_id, LOWERED, "prescriber")
    _add(db, course_id, _dose(0.91, override_reason="toxicity resolved, full dose"), "prescriber")
    document = course_document(db, course_id)
    decision = decide_document(
        {k: v for k, v in document.items() if k not in ("id", "version")}, TODAY
    )
    assert "DOSE_OVERRIDE" in [a["code"] for a in decision["alerts"]]
