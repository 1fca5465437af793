"""iCalendar export of the plan's appointments (``icalendar`` library, imported lazily).

Takes the plan JSON of docs/cli.md (the plan as of a date, laid out of the decision engine's
state) so that the CLI, the API and the web UI share it. The caller passes the generation time
(no clock in here). A held, capped or omitted day is never a normal appointment: a held or capped
dose is ``STATUS:TENTATIVE`` and says "ON HOLD" / "NOT AS SCHEDULED" first, an omitted dose is
``STATUS:CANCELLED`` (so a calendar that imported the day before cancels it); given doses are not
appointments any more and are left out. UIDs are one per cycle and day.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from inoplan import DISCLAIMER

__all__ = ["plan_to_ics"]

_DRUG = "Inotuzumab ozogamicin"


def _summary(dose: Mapping[str, Any]) -> tuple[str, str]:
    """(STATUS, SUMMARY) of one dose of the plan."""
    visit = f"{_DRUG} cycle {dose['cycle']} day {dose['day']}"
    if dose["status"] == "omitted":
        return "CANCELLED", f"CANCELLED (dose omitted): {visit}"
    if dose["status"] == "held":
        return "TENTATIVE", f"ON HOLD - do not give until the team confirms: {visit}"
    if dose.get("limited_from_mg_per_m2") is not None:
        return "TENTATIVE", f"NOT AS SCHEDULED (cycle maximum reached) - team to confirm: {visit}"
    mg = f", {dose['dose_mg']} mg" if dose.get("dose_mg") is not None else ""
    status = "TENTATIVE" if dose.get("provisional") else "CONFIRMED"
    return status, f"{visit} ({dose['dose_mg_per_m2']} mg/m2{mg})"


def plan_to_ics(plan: Mapping[str, Any], *, generated_at: datetime) -> bytes:
    """One all-day event per dose still to come (planned, held) or cancelled (omitted).

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
    calendar.add("x-wr-calname", f"{_DRUG} - {plan.get('patient_id', '')}")
    decision = plan.get("decision") or {}
    if plan.get("as_of"):
        calendar.add(
            "x-wr-caldesc",
            f"Plan as of {plan['as_of']} (decision: {plan.get('decision_status', '-')}). "
            + DISCLAIMER,
        )
    for dose in plan.get("doses", []):
        if dose["status"] not in ("planned", "held", "omitted"):
            continue
        on = date.fromisoformat(dose["scheduled"])
        status, summary = _summary(dose)
        event = Event()
        event.add(
            "uid", f"{plan.get('patient_id', 'course')}-c{dose['cycle']}d{dose['day']}@inoplan"
        )
        event.add("dtstamp", generated_at)
        event.add("dtstart", on)
        event.add("dtend", on + timedelta(days=1))
        event.add("status", status)
        event.add("summary", summary)
        if status != "CONFIRMED":
            event.add("transp", "TRANSPARENT")
        notes = []
        if dose["status"] == "omitted":
            notes.append("This dose is omitted and will not be given: do not come for it.")
        else:
            latest = dose["latest"] or "open (may be delayed for recovery)"
            notes.append(f"Window: {dose['earliest']} to {latest}.")
        if dose["status"] == "held":
            reason = decision.get("reason")
            notes.append(
                "Currently held: the team will confirm the new date."
                + (f" Why: {reason}" if reason else "")
            )
        if dose.get("limited_from_mg_per_m2") is not None and dose["status"] != "omitted":
            notes.append(
                f"Scheduled at {dose['limited_from_mg_per_m2']} mg/m2, but that would take the "
                "cycle above its maximum: the team decides whether it is given."
            )
        if dose.get("provisional") and dose["status"] == "planned":
            notes.append("Provisional: depends on the response assessment.")
        notes.append("Blood tests are taken before each dose. " + DISCLAIMER)
        event.add("description", " ".join(notes))
        calendar.add_component(event)
    return bytes(calendar.to_ical())
