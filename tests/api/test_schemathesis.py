"""Property-based API fuzzing with Schemathesis: >= 1,000 generated requests, 0 server errors.

Every operation of the REST API (as its own OpenAPI document describes it) gets positive
(schema-valid) and negative (schema-violating) requests, authenticated as an administrator,
some aimed at a real course. Each response must not be a server error and must conform to
the documented status codes, content types and response schemas.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.core.result import Ok

from tests.integration.records_helpers import course_document, headers

MIN_REQUESTS = 1000
EXAMPLES = 50
SLOW_EXAMPLES = 6  # password hashing (argon2) makes these operations slow on purpose
SLOW = {"POST /api/v1/auth/token", "POST /api/v1/users", "GET /api/v1/courses/{course_id}/exposure"}
OTHER_ADAPTERS = ("/api/v1/fhir", "/fhir", "/cds-services")  # fuzzed by their own tests


def _ours(operation: Any) -> bool:
    path = operation.path
    return (path.startswith("/api/v1/") or path == "/healthz") and not any(
        part in path for part in OTHER_ADAPTERS
    )


def test_generated_requests_never_cause_a_server_error(
    client: TestClient, tokens: dict[str, str]
) -> None:
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.checks import (
        content_type_conformance,
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
    )

    app = client.app
    admin = headers(tokens["admin"])
    course_ids = [
        client.post("/api/v1/courses", json=course_document(n), headers=admin).json()["id"]
        for n in range(2)
    ]
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # every operation's schema is valid
        if _ours(result.ok()):
            operations.append(result.ok())
    assert len(operations) >= 15

    counts: Counter[str] = Counter()
    failures: list[str] = []
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]

    def exercise(strategy: Any, label: str, examples: int, *, may_be_empty: bool = False) -> None:
        @settings(
            max_examples=examples,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case: Any) -> None:
            response = case.call(headers=admin)
            counts[label] += 1
            if response.status_code >= 500:
                failures.append(f"{label}: {response.status_code} {response.text[:300]}")
                return
            try:
                case.validate_response(response, checks=checks)
            except Exception as exc:  # collect every non-conformance, report all at the end
                failures.append(f"{label}: {response.status_code} {str(exc)[:400]}")

        try:
            run()
        except Unsatisfiable:
            if not may_be_empty:  # only "nothing to violate" (e.g. /healthz) is acceptable
                raise

    for operation in operations:
        label = operation.label
        examples = SLOW_EXAMPLES if label in SLOW else EXAMPLES
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            negative = mode is GenerationMode.NEGATIVE
            strategy = operation.as_strategy(generation_mode=mode)
            exercise(strategy, label, examples, may_be_empty=negative)
        if "{course_id}" in operation.path:  # aim at a real course too
            for course_id in course_ids:
                pinned = operation.as_strategy(path_parameters={"course_id": course_id})
                exercise(pinned, label, EXAMPLES // 2)

    total = sum(counts.values())
    print(f"schemathesis: {total} requests over {len(counts)} operations")
    assert not failures, "\n".join(failures[:20])
    assert total >= MIN_REQUESTS, counts
