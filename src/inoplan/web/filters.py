"""Jinja filters of the web UI: dates and numbers for people, decision inputs as short text."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

__all__ = ["FILTERS"]


def day(value: Any) -> str:
    """``2026-12-08`` -> ``Tue 08 Dec 2026`` (ISO text or a date; empty for None)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return str(value)
    if isinstance(value, datetime):
        return value.strftime("%a %d %b %Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%a %d %b %Y")
    return str(value)


def num(value: Any) -> str:
    """A JSON number without a trailing ``.0``; empty for None."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}" if abs(value) < 1e6 else f"{value:.0f}"
    return str(value)


def inputs(value: Any) -> str:
    """A reason's inputs as ``key = value`` pairs."""
    if not isinstance(value, Mapping) or not value:
        return ""
    parts = []
    for key, item in value.items():
        if isinstance(item, Mapping):
            item = ", ".join(
                f"{k} {num(v) if isinstance(v, float) else v}" for k, v in item.items()
            )
        elif isinstance(item, list):
            item = ", ".join(str(v) for v in item)
        elif isinstance(item, float):
            item = num(item)
        parts.append(f"{key} = {item}")
    return "; ".join(parts)


def event_summary(event: Mapping[str, Any]) -> str:
    """One line for an event in the history list."""
    skip = {"type", "date", "id", "supersedes", "reason"}
    parts = []
    if event.get("type") == "void":
        parts.append(
            f"withdraws {event.get('supersedes', '')} as entered in error "
            f"({event.get('reason', '')})"
        )
    elif event.get("supersedes"):
        parts.append(f"corrects {event['supersedes']} ({event.get('reason', '')})")
    elif event.get("type") == "discontinuation":
        parts.append(f"reason {event.get('reason', '')}")
    for key, item in event.items():
        if key in skip or key.startswith("_"):
            continue
        if isinstance(item, Mapping):
            text = f"{num(item.get('value'))} {item.get('unit', '')}".strip()
            if item.get("uln") is not None:
                text += f" (ULN {num(item['uln'])})"
            if item.get("transfused"):
                text += " transfused"
            parts.append(f"{key} {text}")
        elif isinstance(item, list):
            parts.append(f"{key} {', '.join(str(v) for v in item)}")
        else:
            parts.append(f"{key} {num(item) if isinstance(item, float) else item}")
    return "; ".join(parts)


def label_of(value: str) -> str:
    return value.replace("_", " ")


FILTERS = {
    "day": day,
    "num": num,
    "inputs": inputs,
    "event_summary": event_summary,
    "label_of": label_of,
}
