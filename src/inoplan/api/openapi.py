"""OpenAPI post-processing: errors documented as ``application/problem+json`` everywhere."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from inoplan.api.problems import PROBLEM_JSON

__all__ = ["errors", "install"]

_DESCRIPTIONS = {
    401: "Missing, invalid or expired bearer token",
    403: "The caller's role may not do this",
    404: "No such record",
    409: "Stale version (another write came first) or duplicate; nothing was written",
    410: "This route is retired; `detail` names the one to use",
    422: "Invalid input; `field` names it",
    428: "If-Match header (the course version) is required",
    429: "Too many failed logins (or logins waiting); retry after `Retry-After` seconds",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for error statuses, all with the Problem schema."""
    from inoplan.api.schemas import Problem

    return {s: {"model": Problem, "description": _DESCRIPTIONS.get(s, "Error")} for s in statuses}


def install(app: FastAPI) -> None:
    def custom_openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        problem_ref = {"$ref": "#/components/schemas/Problem"}
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                if not isinstance(operation, dict):
                    continue
                responses = operation.setdefault("responses", {})
                if operation.get("security"):  # every protected route may answer 401 and 403
                    for status in (401, 403):
                        responses.setdefault(
                            str(status),
                            {
                                "description": _DESCRIPTIONS[status],
                                "content": {PROBLEM_JSON: {"schema": problem_ref}},
                            },
                        )
                for status, response in responses.items():
                    content = response.get("content")
                    if status.isdigit() and int(status) >= 400 and content:
                        media = content.pop("application/json", None)
                        if media is not None:
                            content[PROBLEM_JSON] = media
                        for media in content.values():  # FastAPI's default 422 body is not ours
                            if (
                                media.get("schema", {})
                                .get("$ref", "")
                                .endswith("/HTTPValidationError")
                            ):
                                media["schema"] = dict(problem_ref)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        if "Problem" not in components:
            from inoplan.api.schemas import Problem

            components["Problem"] = Problem.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
        app.openapi_schema = schema
        return schema

    app.openapi = custom_openapi  # type: ignore[method-assign]
