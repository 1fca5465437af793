"""The course document (docs/course-document.md): its schema, reading and validation.

An adapter between outside input (YAML/JSON files, API bodies, FHIR imports) and the domain.
Pydantic models define the public schema (JSON Schema and OpenAPI are generated from them);
``parse_course`` validates a document, converts units and returns a domain ``Course``.

The names below are loaded on first use (PEP 562), so that importing
``inoplan.document.plausibility`` alone (``inoplan dose``) does not load the reader and the domain
course model (start-up time, bench/README.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inoplan.document.io import (
        course_json_schema,
        parse_course,
        read_course_file,
        read_document,
    )

__all__ = ["course_json_schema", "parse_course", "read_course_file", "read_document"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from inoplan.document import io

        return getattr(io, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
