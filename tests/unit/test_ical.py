"""iCalendar export of the planned appointments (ical.plan_to_ics)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from icalendar import Calendar

from inoplan.ical import calendar_key, event_uid, plan_to_ics

GENERATED = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
KEY = calendar_key("a long server secret for the calendar tests only, 48+ chars")


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


def events(plan: dict[str, Any], **kwargs: Any) -> list[Any]:
    calendar = Calendar.from_ical(plan_to_ics(plan, generated_at=GENERATED, **kwargs))
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
    uids = [str(e["uid"]) for e in found]
    assert len(set(uids)) == 3  # the given dose is no appointment any more
    assert all("P-1" not in uid for uid in uids)
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


# -- updates and cancellations reach the patient's calendar (issue 14, item 7) -------------------


def _exported(plan: dict[str, Any], *, course: str = "course:7", sequence: int = 4) -> bytes:
    return plan_to_ics(
        plan, generated_at=GENERATED, uid_key=KEY, course_ref=course, sequence=sequence
    )


def _by_day(ics: bytes) -> dict[tuple[str, ...], Any]:
    out: dict[tuple[str, ...], Any] = {}
    for event in Calendar.from_ical(ics).walk("VEVENT"):
        summary = str(event["summary"])
        key = summary[summary.index("cycle") :].split(" (")[0]
        out[tuple(key.split(" day "))] = event
    return out


def test_uids_reveal_nothing_and_stay_the_same_for_a_day_across_exports() -> None:
    plan = {
        "patient_id": "MRN-123456",
        "doses": [dose(1, 8, "2026-12-08", "planned"), dose(1, 15, "2026-12-15", "planned")],
    }
    first = _exported(plan, sequence=4)
    assert b"MRN-123456" not in first and b"course:7" not in first and b"c1d8" not in first
    # the day 8 visit moves by two days; the course version went from 4 to 6
    moved = {**plan, "doses": [dose(1, 8, "2026-12-10", "planned"), plan["doses"][1]]}
    second = _exported(moved, sequence=6)
    before, after = _by_day(first), _by_day(second)
    assert str(before[("cycle 1", "8")]["uid"]) == str(after[("cycle 1", "8")]["uid"])
    assert after[("cycle 1", "8")].decoded("dtstart") == date(2026, 12, 10)
    assert int(before[("cycle 1", "8")]["sequence"]) == 4
    assert int(after[("cycle 1", "8")]["sequence"]) == 6
    assert str(Calendar.from_ical(second)["method"]) == "PUBLISH"
    # another course (or another server key) gives other UIDs for the same day
    other = _by_day(_exported(plan, course="course:8"))
    assert str(other[("cycle 1", "8")]["uid"]) != str(before[("cycle 1", "8")]["uid"])
    assert event_uid(
        calendar_key("another server's secret, also long enough......"), "course:7", 1, 8
    ) != str(before[("cycle 1", "8")]["uid"])
    assert "MRN" not in str(Calendar.from_ical(first)["x-wr-calname"])


def test_without_a_key_each_export_gets_fresh_uids() -> None:
    plan = {"patient_id": "P-9", "doses": [dose(1, 8, "2026-12-08", "planned")]}
    one = str(events(plan)[0]["uid"])
    two = str(events(plan)[0]["uid"])
    assert one != two and "P-9" not in one


def test_a_stopped_course_cancels_the_days_it_no_longer_has() -> None:
    """After a discontinuation the plan has no more doses: every day the patient may have in
    the calendar from an earlier export is sent as CANCELLED (same UID, higher SEQUENCE)."""
    cycles = [{"cycle": 1, "start": "2026-12-01"}, {"cycle": 2, "start": "2026-12-22"}]
    live = {
        "patient_id": "P-5",
        "cycles": cycles,
        "doses": [
            dose(1, 1, "2026-12-01", "given"),
            dose(1, 8, "2026-12-08", "planned"),
            dose(1, 15, "2026-12-15", "planned"),
            dose(2, 1, "2026-12-22", "planned", provisional=True),
            dose(2, 8, "2026-12-29", "planned", provisional=True),
            dose(2, 15, "2027-01-05", "planned", provisional=True),
        ],
    }
    stopped = {**live, "doses": [dose(1, 1, "2026-12-01", "given")]}
    before, after = _by_day(_exported(live, sequence=3)), _by_day(_exported(stopped, sequence=5))
    assert (
        set(after)
        == set(before)
        == {
            ("cycle 1", "8"),
            ("cycle 1", "15"),
            ("cycle 2", "1"),
            ("cycle 2", "8"),
            ("cycle 2", "15"),
        }
    )
    for day, event in after.items():
        assert str(event["status"]) == "CANCELLED", day
        assert str(event["uid"]) == str(before[day]["uid"])
        assert event.decoded("dtstart") == before[day].decoded("dtstart")
        assert int(event["sequence"]) == 5
        assert "no longer planned" in str(event["description"])
    assert str(before[("cycle 1", "8")]["status"]) == "CONFIRMED"
    assert str(before[("cycle 2", "1")]["status"]) == "TENTATIVE"
