"""A small memo for pure decisions: same course document + same date + same policy -> same answer.

EHRs call the hooks repeatedly with the same data (order-select, then order-sign, and
patient-view on every chart opening). The engine is pure, so its answer for identical inputs can
be reused; the key is a SHA-256 of the canonical JSON of the inputs, never the patient's data
itself. Entries are kept as JSON text and parsed on the way out, so callers cannot alter a
cached decision (and parsing is cheaper than a deep copy). JSON by orjson, with dates, times
and decimals through ``str`` as the stdlib's ``default=str`` would give them.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

__all__ = ["DecisionMemo"]

#: The decision as JSON (``services.render_decision.DecisionJson``, or any mapping of it).
Decide = Callable[[dict[str, Any], date], Mapping[str, Any]]


class DecisionMemo:
    """Least-recently-used memo around a pure ``decide(document, on)`` (thread-safe)."""

    def __init__(self, decide: Decide, *, size: int = 512, salt: str = "") -> None:
        self._decide = decide
        self._size = size
        self._salt = salt  # e.g. the site policy: a different policy is a different function
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def key(self, document: dict[str, Any], on: date) -> str:
        canonical = _dumps([self._salt, on.isoformat(), document], sort_keys=True)
        return hashlib.sha256(canonical).hexdigest()

    def __call__(self, document: dict[str, Any], on: date) -> dict[str, Any]:
        key = self.key(document, on)
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                decision: dict[str, Any] = _loads(found)
                return decision
        decision = dict(self._decide(document, on))
        with self._lock:
            self.misses += 1
            self._entries[key] = _dumps(decision)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return decision


def _dumps(value: Any, *, sort_keys: bool = False) -> bytes:
    import orjson

    options = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS
    if sort_keys:
        options |= orjson.OPT_SORT_KEYS
    try:
        return orjson.dumps(value, default=str, option=options)
    except TypeError:  # what orjson does not take (an integer beyond 64 bits): the stdlib
        return json.dumps(value, sort_keys=sort_keys, default=str).encode("utf-8")


def _loads(text: bytes) -> Any:
    import orjson

    return orjson.loads(text)
