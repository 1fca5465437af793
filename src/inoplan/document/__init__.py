"""The course document (docs/course-document.md): its schema, reading and validation.

An adapter between outside input (YAML/JSON files, API bodies, FHIR imports) and the domain.
Pydantic models define the public schema (JSON Schema and OpenAPI are generated from them);
``parse_course`` validates a document, converts units and returns a domain ``Course``.
"""

from inoplan.document.io import course_json_schema, parse_course, read_course_file, read_document

__all__ = ["course_json_schema", "parse_course", "read_course_file", "read_document"]
