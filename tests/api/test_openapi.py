"""The OpenAPI document: security scheme, response models, problem+json errors."""

from __future__ import annotations

from fastapi import FastAPI

PUBLIC = {("post", "/api/v1/auth/token"), ("get", "/healthz")}


def _operations(app: FastAPI):  # type: ignore[no-untyped-def]
    for path, item in app.openapi()["paths"].items():
        if path.startswith("/api/") or path == "/healthz":
            for method, operation in item.items():
                yield method, path, operation


def test_the_bearer_scheme_is_declared_and_used_by_every_protected_operation(app: FastAPI) -> None:
    spec = app.openapi()
    scheme = spec["components"]["securitySchemes"]["OAuth2PasswordBearer"]
    assert scheme["type"] == "oauth2"
    assert scheme["flows"]["password"]["tokenUrl"] == "/api/v1/auth/token"
    for method, path, operation in _operations(app):
        if (method, path) in PUBLIC:
            assert "security" not in operation, path
        else:
            assert operation.get("security") == [{"OAuth2PasswordBearer": []}], (method, path)
            assert "401" in operation["responses"], (method, path)


def test_every_error_response_is_problem_json_and_every_success_has_a_schema(app: FastAPI) -> None:
    for method, path, operation in _operations(app):
        if "fhir" in path:  # the FHIR adapter documents its own responses
            continue
        for status, response in operation["responses"].items():
            content = response.get("content", {})
            if int(status) >= 400:
                assert list(content) == ["application/problem+json"], (method, path, status)
                assert content["application/problem+json"]["schema"]["$ref"].endswith("/Problem")
            elif status == "204":  # No Content: nothing to describe
                assert not content, (method, path, status)
            else:
                assert content["application/json"]["schema"], (method, path, status)


def test_protected_course_operations_document_their_failures(app: FastAPI) -> None:
    spec = app.openapi()["paths"]
    append = spec["/api/v1/courses/{course_id}/events"]["post"]
    assert {"401", "403", "404", "409", "422", "428"} <= set(append["responses"])
    assert "201" in append["responses"]
    decision = spec["/api/v1/courses/{course_id}/decision"]["get"]
    assert decision["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/DecisionPublic"
    )


def test_the_import_of_the_package_and_cli_help_stay_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from inoplan.cli.main import app; import inoplan.config, inoplan.bootstrap;"
        "heavy = [m for m in ('fastapi', 'sqlalchemy', 'numpy', 'matplotlib', 'uvicorn', 'alembic')"
        " if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_reference_in_the_document_resolves(app: FastAPI) -> None:
    import json
    import re

    spec = app.openapi()
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(spec)))
    assert refs and refs <= set(spec["components"]["schemas"])
