"""Dates and numbers for people: the plain formatting shared by the page filters
(``web.filters``) and the message translations (``web.messages``). Pure, no template library.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

__all__ = ["born", "day", "num"]


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


def born(value: Any) -> str:
    """A birth date without the weekday: ``1971-03-14`` -> ``14 Mar 1971``."""
    try:
        return date.fromisoformat(str(value)[:10]).strftime("%d %b %Y")
    except ValueError:
        return str(value or "")


def num(value: Any) -> str:
    """A JSON number without a trailing ``.0``; empty for None."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}" if abs(value) < 1e6 else f"{value:.0f}"
    return str(value)
