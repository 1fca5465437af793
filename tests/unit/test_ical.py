"""iCalendar export of the planned appointments (ical.plan_to_ics)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from icalendar import Calendar

from inoplan.ical import plan_to_ics

GENERATED = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def dose(cycle: int, day: int, scheduled: str, status: str, **extra: Any) -> dict[str, Any]:
    row = {
        "cycle": cycle,
        "day": day,
        "scheduled": scheduled,
        "earliest": scheduled,
        "latest": None,
        "dose_mg_per_m2": 0.5,
        "dose_mg": 0.91,
        "status": status,
        "provisional": False,
    }
    row.update(extra)
    return row


def events(plan: dict[str, Any]) -> list[Any]:
    calendar = Calendar.from_ical(plan_to_ics(plan, generated_at=GENERATED))
    return [c for c in calendar.walk() if c.name == "VEVENT"]


def test_one_all_day_event_per_planned_or_held_dose() -> None:
    plan = {
        "patient_id": "P-1",
        "doses": [
            dose(1, 1, "2026-12-01", "given", dose_mg_per_m2=0.8, dose_mg=1.46),
            dose(1, 8, "2026-12-08", "planned", earliest="2026-12-07", latest="2026-12-10"),
            dose(1, 15, "2026-12-15", "held", earliest="2026-12-14", latest="2026-12-17"),
            dose(2, 1, "2026-12-22", "omitted"),
        ],
    }
    found = events(plan)
    assert [str(e["uid"]) for e in found] == [
        "P-1-c1d8@inoplan",
        "P-1-c1d15@inoplan",
        "P-1-c2d1@inoplan",
    ]  # the given dose is no appointment any more
    day8 = found[0]
    assert day8.decoded("dtstart") == date(2026, 12, 8)
    assert day8.decoded("dtend") == date(2026, 12, 9)  # all-day: end is exclusive
    assert str(day8["summary"]) == "Inotuzumab ozogamicin cycle 1 day 8 (0.5 mg/m2, 0.91 mg)"
    assert str(day8["status"]) == "CONFIRMED"
    assert "Window: 2026-12-07 to 2026-12-10." in str(day8["description"])
    assert day8.decoded("dtstamp") == GENERATED
    assert "held" in str(found[1]["description"]).lower()


def test_a_held_or_omitted_day_is_never_a_normal_appointment() -> None:
    plan = {
        "patient_id": "P-4",
        "as_of": "2026-12-15",
        "decision_status": "hold",
        "decision": {"reason": "Nausea grade 2 (since 2026-12-14): hold until grade <= 1."},
        "doses": [
            dose(1, 15, "2026-12-15", "held", earliest="2026-12-14", latest="2026-12-17"),
            dose(1, 8, "2026-12-08", "omitted"),
            dose(2, 8, "2027-01-05", "planned", limited_from_mg_per_m2=0.5, dose_mg_per_m2=0),
        ],
    }
    held, omitted, capped = events(plan)
    assert str(held["status"]) == "TENTATIVE"
    assert str(held["summary"]).startswith("ON HOLD")
    assert str(held["transp"]) == "TRANSPARENT"
    assert "Nausea grade 2" in str(held["description"])
    assert str(omitted["status"]) == "CANCELLED"
    assert str(omitted["summary"]).startswith("CANCELLED")
    assert "not be given" in str(omitted["description"])
    assert str(capped["status"]) == "TENTATIVE"
    assert str(capped["summary"]).startswith("NOT AS SCHEDULED")
    assert "maximum" in str(capped["description"])


def test_open_window_and_provisional_and_unknown_mg() -> None:
    plan = {
        "patient_id": "P-2",
        "doses": [
            dose(2, 1, "2026-12-22", "planned", dose_mg=None, dose_mg_per_m2=0.8, provisional=True)
        ],
    }
    (only,) = events(plan)
    assert str(only["summary"]) == "Inotuzumab ozogamicin cycle 2 day 1 (0.8 mg/m2)"
    assert str(only["status"]) == "TENTATIVE"  # provisional: depends on the response
    description = str(only["description"])
    assert "open" in description
    assert "Provisional" in description
    assert "clinician" in description  # the disclaimer travels with every appointment


def test_calendar_header_and_empty_plan() -> None:
    ics = plan_to_ics({"patient_id": "P-3", "doses": []}, generated_at=GENERATED)
    calendar = Calendar.from_ical(ics)
    assert str(calendar["version"]) == "2.0"
    assert "inoplan" in str(calendar["prodid"])
    assert events({"patient_id": "P-3", "doses": []}) == []
    assert ics.startswith(b"BEGIN:VCALENDAR")
