"""iCalendar export of the plan's appointments (``icalendar`` library, imported lazily).

Takes the plan JSON of docs/cli.md (the plan as of a date, laid out of the decision engine's
state) so that the CLI, the API and the web UI share it. The caller passes the generation time
(no clock in here). A held, capped or omitted day is never a normal appointment: a held or capped
dose is ``STATUS:TENTATIVE`` and says "ON HOLD" / "NOT AS SCHEDULED" first, an omitted dose is
``STATUS:CANCELLED`` (so a calendar that imported the day before cancels it); given doses are not
appointments any more and are left out. A day of a listed cycle that the plan no longer has (the
course was stopped, or the cycle lost a day) is sent as ``CANCELLED`` too.

Updates reach the patient's calendar (RFC 5545, ``METHOD:PUBLISH``): each day has one ``UID``
for the life of the course, so a re-imported calendar replaces the event instead of adding one;
``SEQUENCE`` is the caller's revision number (the course version: it grows with every change).
UIDs reveal nothing: an HMAC-SHA256 of the caller's opaque course reference and the day
(``c1d8``) under a key derived from the server's secret (:func:`calendar_key`), never a patient
identifier. Without a key (a file exported by the CLI without ``INOPLAN_SECRET_KEY``) each
export gets random UIDs: nothing is revealed, but a re-import adds events instead of updating.
The calendar's name carries no identifier either.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from inoplan import DISCLAIMER

__all__ = ["calendar_key", "event_uid", "plan_to_ics"]

#: The doses of a cycle (label: days 1, 8 and 15 of every schedule).
_DAYS = (1, 8, 15)


def calendar_key(secret: str) -> bytes:
    """The UID key, derived from the server's secret (so it is not the signing key itself).

    >>> len(calendar_key("a" * 48))
    32
    """
    return hmac.new(secret.encode("utf-8"), b"inoplan calendar uid v1", hashlib.sha256).digest()


def event_uid(key: bytes | None, course_ref: str, cycle: int, day: int) -> str:
    """The UID of one dose day: stable for (key, course, cycle, day), revealing none of them.

    >>> event_uid(b"k" * 32, "course:1", 1, 8) == event_uid(b"k" * 32, "course:1", 1, 8)
    True
    >>> event_uid(b"k" * 32, "course:1", 1, 8) == event_uid(b"k" * 32, "course:2", 1, 8)
    False
    """
    if key is None:
        return f"{secrets.token_hex(16)}@inoplan"
    message = f"{course_ref}|c{cycle}d{day}".encode()
    return f"{hmac.new(key, message, hashlib.sha256).hexdigest()[:32]}@inoplan"


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


def _missing_days(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Days of the plan's cycles that have no dose in it any more (after a stop, a lost day)."""
    present = {(d["cycle"], d["day"]) for d in plan.get("doses", [])}
    missing = []
    for cycle in plan.get("cycles", []):
        start = date.fromisoformat(str(cycle["start"]))
        for day in _DAYS:
            if (cycle["cycle"], day) in present:
                continue
            on = start + timedelta(days=day - 1)
            missing.append(
                {"cycle": cycle["cycle"], "day": day, "scheduled": on.isoformat(), "gone": True}
            )
    return missing


def plan_to_ics(
    plan: Mapping[str, Any],
    *,
    generated_at: datetime,
    uid_key: bytes | None = None,
    course_ref: str = "",
    sequence: int = 0,
) -> bytes:
    """One all-day event per dose still to come (planned, held) or cancelled (omitted, gone).

    ``uid_key`` and ``course_ref`` make the UIDs (:func:`event_uid`); ``sequence`` is the
    revision (the course version), the same on every event of one export.

    >>> from datetime import timezone
    >>> ics = plan_to_ics({"patient_id": "P1", "doses": [{"cycle": 1, "day": 8,
    ...     "scheduled": "2026-12-08", "earliest": "2026-12-06", "latest": "2026-12-10",
    ...     "dose_mg_per_m2": 0.5, "dose_mg": 0.91, "status": "planned", "provisional": False}]},
    ...     generated_at=datetime(2026, 12, 1, tzinfo=timezone.utc), uid_key=b"k" * 32,
    ...     course_ref="course:1", sequence=3)
    >>> b"SUMMARY:Inotuzumab ozogamicin cycle 1 day 8" in ics, b"SEQUENCE:3" in ics
    (True, True)
    >>> b"P1" in ics
    False
    """
    from icalendar import Calendar, Event

    calendar = Calendar()
    calendar.add("prodid", "-//inoplan//inotuzumab ozogamicin course plan//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", f"{_DRUG} treatment")
    decision = plan.get("decision") or {}
    if plan.get("as_of"):
        calendar.add(
            "x-wr-caldesc",
            f"Plan as of {plan['as_of']} "
            f"(decision: {str(plan.get('decision_status', '-')).replace('_', ' ')}). " + DISCLAIMER,
        )
    for dose in [*plan.get("doses", []), *_missing_days(plan)]:
        if not dose.get("gone") and dose["status"] not in ("planned", "held", "omitted"):
            continue
        on = date.fromisoformat(dose["scheduled"])
        event = Event()
        event.add("uid", event_uid(uid_key, course_ref, int(dose["cycle"]), int(dose["day"])))
        event.add("sequence", max(0, int(sequence)))
        event.add("dtstamp", generated_at)
        event.add("dtstart", on)
        event.add("dtend", on + timedelta(days=1))
        if dose.get("gone"):
            event.add("status", "CANCELLED")
            event.add(
                "summary",
                f"CANCELLED (no longer planned): {_DRUG} cycle {dose['cycle']} day {dose['day']}",
            )
            event.add("transp", "TRANSPARENT")
            event.add(
                "description",
                "This visit is no longer planned: do not come for it. The team tells you about "
                "any new date. " + DISCLAIMER,
            )
            calendar.add_component(event)
            continue
        status, summary = _summary(dose)
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
