"""Small helpers shared by the record use cases (records, auth, guards, decisions).

Kept apart from :mod:`inoplan.services.records` so that the modules records uses (auth, guards)
need not import records back: no import circle.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from inoplan.errors import InvalidInput

__all__ = [
    "assemble_document",
    "canonical_json",
    "check_username",
    "document_sha256",
    "to_json_value",
]


def canonical_json(value: Any) -> str:
    """The canonical JSON text that hashes are taken over (sorted keys, no spaces, UTF-8)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def document_sha256(document: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


def assemble_document(course: Any, events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The course document as stored: a course record's blocks and its events' data."""
    document: dict[str, Any] = {}
    if course.has_label:
        document["label"] = course.label
    document["patient"] = course.patient_doc
    document["plan"] = course.plan_doc
    document["events"] = list(events)
    return document


def to_json_value(value: Any) -> Any:
    """Dates to ISO text, tuples to lists, recursively; raises on anything not JSON-able."""
    if isinstance(value, Mapping):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    from decimal import Decimal

    if isinstance(value, Decimal):
        return float(value)
    raise InvalidInput("document", f"value of type {type(value).__name__} is not JSON")


_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


def check_username(username: str) -> str:
    if not isinstance(username, str) or not _USERNAME.match(username):
        raise InvalidInput(
            "username", "1-64 characters: letters, digits, '.', '_', '@', '-' (no spaces)"
        )
    return username
