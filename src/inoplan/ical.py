"""iCalendar export of the planned appointments (``icalendar`` library, imported lazily).

Takes the plan JSON of docs/cli.md so that the CLI, the API and the web UI share it.
The caller passes the generation time (no clock in here).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from inoplan import DISCLAIMER

__all__ = ["plan_to_ics"]


def plan_to_ics(plan: Mapping[str, Any], *, generated_at: datetime) -> bytes:
    """One all-day event per dose still to come (planned or held), with its window.

    >>> from datetime import timezone
    >>> ics = plan_to_ics({"patient_id": "P1", "doses": [{"cycle": 1, "day": 8,
    ...     "scheduled": "2026-12-08", "earliest": "2026-12-06", "latest": "2026-12-10",
    ...     "dose_mg_per_m2": 0.5, "dose_mg": 0.91, "status": "planned", "provisional": False}]},
    ...     generated_at=datetime(2026, 12, 1, tzinfo=timezone.utc))
    >>> b"SUMMARY:Inotuzumab ozogamicin cycle 1 day 8" in ics
    True
    """
    from icalendar import Calendar, Event

    calendar = Calendar()
    calendar.add("prodid", "-//inoplan//inotuzumab ozogamicin course plan//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", f"Inotuzumab ozogamicin - {plan.get('patient_id', '')}")
    for dose in plan.get("doses", []):
        if dose["status"] not in ("planned", "held"):
            continue
        on = date.fromisoformat(dose["scheduled"])
        event = Event()
        event.add(
            "uid", f"{plan.get('patient_id', 'course')}-c{dose['cycle']}d{dose['day']}@inoplan"
        )
        event.add("dtstamp", generated_at)
        event.add("dtstart", on)
        event.add("dtend", on + timedelta(days=1))
        mg = f", {dose['dose_mg']} mg" if dose.get("dose_mg") is not None else ""
        event.add(
            "summary",
            f"Inotuzumab ozogamicin cycle {dose['cycle']} day {dose['day']} "
            f"({dose['dose_mg_per_m2']} mg/m2{mg})",
        )
        latest = dose["latest"] or "open (may be delayed for recovery)"
        window = f"Window: {dose['earliest']} to {latest}."
        notes = [window]
        if dose.get("provisional"):
            notes.append("Provisional: depends on the response assessment.")
        if dose["status"] == "held":
            notes.append("Currently held: the team will confirm the new date.")
        notes.append("Blood tests are taken before each dose. " + DISCLAIMER)
        event.add("description", " ".join(notes))
        calendar.add_component(event)
    return bytes(calendar.to_ical())
