"""Jinja filters of the web UI: dates and numbers for people, decision inputs as short text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import pass_context

from inoplan.web.formats import born, day, num

__all__ = ["FILTERS", "GLOBALS"]


def _events_of(context: Any) -> list[Any] | None:
    """The entries of the course a page shows (so messages can name them), if any."""
    view = context.get("view") if context is not None else None
    document = getattr(view, "document", None) or (
        view.get("document") if isinstance(view, Mapping) else None
    )
    if isinstance(document, Mapping):
        events = document.get("events")
        return list(events) if isinstance(events, list) else None
    return None


@pass_context
def inputs(context: Any, value: Any) -> str:
    """A reason's inputs as ``name = value`` pairs in words (``web.messages.inputs_text``)."""
    from inoplan.web.messages import inputs_text

    return inputs_text(value, _events_of(context))


@pass_context
def plain(context: Any, value: Any) -> str:
    """A service message in words: no field paths, UCUM units or entry ids (web.messages)."""
    from inoplan.web.messages import plain as plain_text

    if value is None or value == "":
        return ""
    return plain_text(value, _events_of(context))


def event_summary(event: Mapping[str, Any]) -> str:
    """One line for an entry in the history list, in words (labels, units as written)."""
    from inoplan.web.messages import (
        ANALYTE_WORDS,
        FIELD_WORDS,
        event_words,
        unit_text,
    )

    skip = {"type", "date", "id", "supersedes", "reason"}
    parts = []
    if event.get("type") == "void":
        parts.append(f"withdraws an entry as entered in error ({event.get('reason', '')})")
    elif event.get("supersedes"):
        parts.append(
            f"corrects an earlier {event_words(event.get('type'))} entry "
            f"({event.get('reason', '')})"
        )
    elif event.get("type") == "discontinuation":
        parts.append(f"reason: {event.get('reason', '')}")
    units = {
        "height_cm": "cm",
        "weight_kg": "kg",
        "dose_mg": "mg",
        "qtcf_ms": "ms",
        "duration_min": "min",
        "observation_min": "min",
        "peripheral_blasts_pct": "%",
        "marrow_blasts_pct": "%",
    }
    for key, item in event.items():
        if key in skip or key.startswith("_"):
            continue
        name = ANALYTE_WORDS.get(key) or FIELD_WORDS.get(key) or key.replace("_", " ")
        if isinstance(item, Mapping):
            text = f"{num(item.get('value'))} {unit_text(item.get('unit', ''))}".strip()
            if item.get("uln") is not None:
                text += f" (upper limit of normal {num(item['uln'])})"
            if item.get("transfused"):
                text += " under platelet transfusion"
            parts.append(f"{name} {text}")
        elif isinstance(item, list):
            parts.append(f"{name}: {', '.join(str(v) for v in item) or 'none'}")
        elif isinstance(item, bool):
            parts.append(f"{name}: {'yes' if item else 'no'}")
        else:
            shown = num(item) if isinstance(item, float) else str(item).replace("_", " ")
            parts.append(f"{name} {shown}{' ' + units[key] if key in units else ''}")
    return "; ".join(parts)


def label_of(value: str) -> str:
    """A kind of entry in words (``labs`` -> ``laboratory results``)."""
    from inoplan.web.messages import event_words

    return event_words(value)


def unit(value: Any) -> str:
    from inoplan.web.messages import unit_text

    return unit_text(value)


def schedule(value: Any) -> str:
    from inoplan.web.messages import schedule_text

    return schedule_text(value)


def alert_title(value: Any) -> str:
    from inoplan.web.messages import alert_title as title

    return title(value)


def audit_action(value: Any) -> str:
    from inoplan.web.messages import audit_words

    return audit_words(value)


def dose_status(value: Any) -> str:
    from inoplan.web.messages import DOSE_STATUS_WORDS

    return DOSE_STATUS_WORDS.get(str(value), str(value))


def hl7_place(value: Any) -> str:
    from inoplan.web.messages import hl7_place as place

    return place(value)


def patient_name(patient: Any) -> str:
    """The patient's name, or a plain statement that none is recorded (never blank)."""
    name = patient.get("name") if isinstance(patient, Mapping) else None
    return str(name) if name else "name not recorded"


def booking_error(item: tuple[str, str]) -> tuple[str, str]:
    """An error of a booking form (``booking-<cycle>-<day>``, message) as an error summary
    link to that day's time field."""
    key, message = item
    parts = key.split("-")
    where = f"Cycle {parts[1]} day {parts[2]}" if len(parts) == 3 else "Booking"
    return (f"#{key}", f"{where}, booked time: {message}")


FILTERS = {
    "booking_error": booking_error,
    "day": day,
    "born": born,
    "num": num,
    "inputs": inputs,
    "plain": plain,
    "event_summary": event_summary,
    "label_of": label_of,
    "unit": unit,
    "schedule": schedule,
    "alert_title": alert_title,
    "dose_status": dose_status,
    "audit_action": audit_action,
    "patient_name": patient_name,
    "hl7_place": hl7_place,
}


def _error_items(*args: Any, **kwargs: Any) -> list[tuple[str, str]]:
    from inoplan.web.messages import error_items

    return error_items(*args, **kwargs)


#: Functions the templates call (the error summary's links: ``web.messages.error_items``).
GLOBALS = {"error_items": _error_items}
