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
from typing import Any, NotRequired, Protocol, TypedDict

from inoplan.errors import InvalidInput

__all__ = [
    "CourseDocumentJson",
    "StoredCourseJson",
    "ascii_int",
    "assemble_document",
    "canonical_json",
    "check_username",
    "document_of",
    "document_sha256",
    "to_json_value",
]


class CourseDocumentJson(TypedDict):
    """A course document (docs/course-document.md) as stored and exported: checked at the door
    by ``inoplan.document`` (``CourseDocument``); its blocks and events are that JSON."""

    label: NotRequired[str]
    patient: dict[str, Any]
    plan: dict[str, Any]
    events: list[dict[str, Any]]


class StoredCourseJson(CourseDocumentJson):
    """A stored course document with its id and version (``GET /courses/{id}``)."""

    id: int
    version: int


def canonical_json(value: Any) -> str:
    """The canonical JSON text that hashes are taken over (sorted keys, no spaces, UTF-8)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def document_sha256(document: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


class CourseBlocks(Protocol):
    """What a stored course row holds of its document (``records.CourseRecord``)."""

    @property
    def has_label(self) -> bool: ...
    @property
    def label(self) -> str: ...
    @property
    def patient_doc(self) -> dict[str, Any]: ...
    @property
    def plan_doc(self) -> dict[str, Any]: ...


def assemble_document(
    course: CourseBlocks, events: Sequence[Mapping[str, Any]]
) -> CourseDocumentJson:
    """The course document as stored: a course record's blocks and its events' data."""
    data = [e if isinstance(e, dict) else dict(e) for e in events]  # the stored dicts as they are
    if course.has_label:
        return {
            "label": course.label,
            "patient": course.patient_doc,
            "plan": course.plan_doc,
            "events": data,
        }
    return {"patient": course.patient_doc, "plan": course.plan_doc, "events": data}


def document_of(stored: StoredCourseJson) -> CourseDocumentJson:
    """The course document of a stored course: without its ``id`` and ``version``."""
    if "label" in stored:
        return {
            "label": stored["label"],
            "patient": stored["patient"],
            "plan": stored["plan"],
            "events": stored["events"],
        }
    return {"patient": stored["patient"], "plan": stored["plan"], "events": stored["events"]}


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


def ascii_int(text: str, *, max_digits: int = 18) -> int | None:
    """``text`` as a non-negative integer when it is 1 to ``max_digits`` ASCII digits, else
    None. ``str.isdigit`` alone is not enough: it is true for "²" or "٣", which ``int``
    refuses or reads as another digit."""
    if not 0 < len(text) <= max_digits or not text.isascii() or not text.isdigit():
        return None
    return int(text)
