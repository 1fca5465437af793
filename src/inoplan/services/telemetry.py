"""Observation points for adapters (metrics): no I/O here, and a listener can never break a
use case. ``decision_shown(status, via)`` is called once per decision shown to someone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

__all__ = ["decision_shown", "on_decision"]

_decision_listeners: list[Callable[[str, str], None]] = []


def on_decision(listener: Callable[[str, str], None]) -> None:
    """Call ``listener(status, via)`` for every decision shown (registered once)."""
    if listener not in _decision_listeners:
        _decision_listeners.append(listener)


def decision_shown(status: str, via: str) -> None:
    for listener in list(_decision_listeners):
        try:
            listener(status, via)
        except Exception:  # observation must never change an answer
            logging.getLogger(__name__).exception("decision listener failed")
