"""docs/api.md names every route of the OpenAPI document and lists its response fields."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

from fastapi import FastAPI

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "api.md"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "scripts_api_fields", ROOT / "scripts" / "api_fields.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _normal(path: str) -> str:
    """``/api/v1/courses/{course_id}/plan``, ``/courses/{id}/plan?on=`` -> ``/courses/{}/plan``."""
    path = path.split("?", 1)[0].removeprefix("/api/v1")
    return re.sub(r"\{[^}]*\}", "{}", path)


def _named_in_the_table(text: str) -> set[tuple[str, str]]:
    """(METHOD, path) of every route the hand-written endpoint table names."""
    table = text.split("## Endpoints", 1)[1].split("\n## ", 1)[0]
    named = set()
    for row in table.splitlines():
        if not row.startswith("| `"):
            continue
        first = row.split(" | ", 1)[0]
        for method, path in re.findall(r"`(GET|POST|PUT|PATCH|DELETE) ([^`\s]+)`", first):
            named.add((method, _normal(path)))
    return named


def test_every_route_is_in_the_endpoint_table(app: FastAPI) -> None:
    operations = _script().operations(app.openapi())
    named = _named_in_the_table(DOC.read_text(encoding="utf-8"))
    missing = [f"{m} {p}" for m, p in operations if (m, _normal(p)) not in named]
    assert missing == [], "docs/api.md, Endpoints: add a row for each"


def test_the_response_fields_are_those_of_the_openapi_document(app: FastAPI) -> None:
    script = _script()
    spec: dict[str, Any] = app.openapi()
    block = script.current_block(DOC.read_text(encoding="utf-8"))
    assert block == script.render(spec), "docs/api.md is stale: run make api-docs"
    for method, path in script.operations(spec):
        assert f"| `{method} {path}` |" in block


def test_a_new_route_would_be_caught(app: FastAPI) -> None:
    """The checks are not vacuous: a route the page does not name is reported."""
    script = _script()
    spec = app.openapi()
    spec["paths"]["/api/v1/courses/{course_id}/brand-new"] = {
        "get": {
            "responses": {
                "200": {
                    "content": {
                        "application/json": {
                            "schema": {"type": "object", "properties": {"x": {"type": "integer"}}}
                        }
                    }
                }
            }
        }
    }
    named = _named_in_the_table(DOC.read_text(encoding="utf-8"))
    assert ("GET", "/courses/{}/brand-new") not in named
    assert script.current_block(DOC.read_text(encoding="utf-8")) != script.render(spec)
