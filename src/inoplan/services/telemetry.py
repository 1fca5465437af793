"""Observation points for adapters (metrics): no I/O here, and a listener can never break a
use case. ``decision_shown(status, via)`` is called once per decision shown to someone,
``login_outcome(outcome)`` once per login attempt (``ok``, ``failed``, ``throttled``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

__all__ = ["decision_shown", "login_outcome", "on_decision", "on_login"]

_decision_listeners: list[Callable[[str, str], None]] = []
_login_listeners: list[Callable[[str], None]] = []


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


def on_login(listener: Callable[[str], None]) -> None:
    """Call ``listener(outcome)`` for every login attempt (registered once)."""
    if listener not in _login_listeners:
        _login_listeners.append(listener)


def login_outcome(outcome: str) -> None:
    for listener in list(_login_listeners):
        try:
            listener(outcome)
        except Exception:  # observation must never change an answer
            logging.getLogger(__name__).exception("login listener failed")
