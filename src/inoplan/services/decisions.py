"""The course's decision as of a day, from what is stored: the one entry point after a write.

Today the decision is computed on the fly from the stored course (the Today list does the same
through ``records.show_decision``, so a result that lands is on the list at its next load).
Everything that changes a course without a person looking at it (result feeds) calls
:func:`refresh_decision` afterwards; when decisions come to be stored, this is the one place to
store them.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from inoplan.errors import CdsError
from inoplan.services.records import UowFactory, export_document, to_json_value

__all__ = ["course_decision", "refresh_decision"]


def course_decision(
    uow_factory: UowFactory, course_id: int, on: date, *, policy: Any = None
) -> dict[str, Any]:
    """The decision for ``on`` computed from the stored course (docs/decision.md JSON)."""
    from inoplan.services.courses import decide_document

    document = export_document(uow_factory, course_id)
    kwargs = {} if policy is None else {"policy": policy}
    decision: dict[str, Any] = to_json_value(decide_document(document, on, **kwargs))
    return decision


def refresh_decision(
    uow_factory: UowFactory, course_id: int, on: date, *, policy: Any = None
) -> str:
    """Recompute the course's decision after a write; returns its status (``error`` if none).

    A course that cannot be decided any more is not an exception here: the write has happened,
    and the Today list shows the error on the course's row.
    """
    try:
        return str(course_decision(uow_factory, course_id, on, policy=policy).get("status"))
    except CdsError:
        return "error"
