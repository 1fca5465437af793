"""Finding 7: no patient identifier in any URL or access log, printable patient ids at every
door, HSTS over TLS, ``Cache-Control: no-store`` on every PHI response, a body size limit."""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.records_helpers import PASSWORD, TODAY, course_document, headers
from tests.security.security_helpers import CSRF, make_app, web_login

MRN = "MRN-4471-XQ"
HTTPS = "https://testserver"


@pytest.fixture
def seeded(client: Any, tokens: Any) -> dict[str, Any]:
    document = course_document(0, patient_id=MRN)
    created = client.post("/api/v1/courses", json=document, headers=headers(tokens["admin"]))
    assert created.status_code == 201, created.text
    return {"course_id": created.json()["id"], "document": document}


# -- no identifier in a URL ----------------------------------------------------------------------


def test_no_route_takes_a_patient_identifier_in_its_path_or_query(app: Any) -> None:
    for path, item in app.openapi()["paths"].items():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] in ("path", "query") and "patient" in parameter["name"]:
                    assert parameter["name"] == "patient_key", (path, parameter)
                    assert parameter["schema"].get("type") == "integer" or any(
                        s.get("type") == "integer" for s in parameter["schema"].get("anyOf", [])
                    ), (path, parameter)


def test_a_patient_is_found_by_a_posted_identifier_and_addressed_by_an_opaque_key(
    client: Any, tokens: Any, seeded: dict[str, Any]
) -> None:
    viewer = headers(tokens["viewer"])
    assert client.get(f"/api/v1/patients/{MRN}", headers=viewer).status_code == 422
    found = client.post("/api/v1/patients/search", json={"id": MRN}, headers=viewer)
    assert found.status_code == 200 and found.json()["course_ids"] == [seeded["course_id"]]
    key = found.json()["key"]
    assert client.get(f"/api/v1/patients/{key}", headers=viewer).json()["id"] == MRN
    courses = client.get(f"/api/v1/courses?patient_key={key}", headers=viewer).json()
    assert [c["id"] for c in courses["data"]] == [seeded["course_id"]]
    missing = client.post("/api/v1/patients/search", json={"id": "NOT-THERE-1"}, headers=viewer)
    assert missing.status_code == 404 and "NOT-THERE-1" not in missing.text


def _links(html: str) -> list[str]:
    return re.findall(r'(?:href|src|action)="([^"]*)"', html)


def test_web_pages_link_by_opaque_ids_and_filter_by_a_posted_identifier(
    app: Any, tokens: Any, seeded: dict[str, Any]
) -> None:
    with TestClient(app, base_url=HTTPS) as browser:
        assert web_login(browser, "viewer", PASSWORD).status_code == 303
        today = browser.get(f"/?show=all&on={TODAY}")
        assert MRN in today.text  # shown on the page ...
        course = browser.get(f"/courses/{seeded['course_id']}?on={TODAY}")
        assert course.status_code == 200 and MRN in course.text
        for page in (today, course):
            for link in _links(page.text):
                assert MRN not in link and "MRN" not in link  # ... never in a link
        csrf = CSRF.search(today.text)
        assert csrf is not None
        filtered = browser.post(
            "/", data={"show": "all", "patient": "4471", "csrf_token": csrf.group(1)}
        )
        assert filtered.status_code == 200 and MRN in filtered.text
        assert 'name="patient"' in filtered.text and 'method="post"' in filtered.text


def test_the_access_log_carries_route_templates_never_identifiers(
    app: Any, client: Any, tokens: Any, seeded: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="inoplan.access")
    viewer = headers(tokens["viewer"])
    client.post("/api/v1/patients/search", json={"id": MRN}, headers=viewer)
    client.get(f"/api/v1/patients/{MRN}", headers=viewer)  # refused (422), still logged
    client.get(f"/api/v1/courses?patient={MRN}", headers=viewer)
    client.get(f"/api/v1/courses/{seeded['course_id']}", headers=viewer)
    client.get(f"/no/such/{MRN}")
    with TestClient(app, base_url=HTTPS) as browser:
        web_login(browser, "viewer", PASSWORD)
        browser.get(f"/?patient={MRN}")
    access = [r for r in caplog.records if r.name == "inoplan.access"]
    routes = {getattr(r, "route", None) for r in access}
    assert {
        "/api/v1/patients/search",
        "/api/v1/patients/{patient_key}",
        "/api/v1/courses",
        "/api/v1/courses/{course_id}",
        "unmatched",
        "/login",
        "/",
    } <= routes
    from inoplan.logs import JsonFormatter

    text = "\n".join(JsonFormatter().format(r) for r in access)
    assert MRN not in text and "4471" not in text


# -- printable patient identifiers ---------------------------------------------------------------

BAD_IDS = {
    "CR LF": "MRN-1\r\nFAKE LINE",
    "LF": "MRN-1\nX",
    "NUL": "MRN\x00-1",
    "ESC": "MRN\x1b[31m-1",
    "bidi override": "MRN-1\u202e9-4",
    "bidi isolate": "MRN\u2066-1",
    "zero width space": "MRN\u200b-1",
    "byte order mark": "\ufeffMRN-1",
    "line separator": "MRN\u2028-1",
    "no-break space": "MRN\u00a0-1",
    "tab": "MRN\t1",
    "DEL": "MRN\x7f-1",
    "C1 control": "MRN\x85-1",
    "leading space": " MRN-1",
    "trailing space": "MRN-1 ",
    "private use": "MRN\ue000-1",
    "only spaces": "   ",
    "too long": "M" * 65,
}


@pytest.mark.parametrize("bad", BAD_IDS.values(), ids=list(BAD_IDS))
def test_a_patient_id_with_unprintable_characters_is_refused_everywhere(
    client: Any, tokens: Any, bad: str
) -> None:
    from inoplan.document import parse_course
    from inoplan.errors import InvalidInput

    document = course_document(0, patient_id=bad)
    with pytest.raises(InvalidInput) as refused:
        parse_course(document)
    assert refused.value.field == "patient.id"
    admin = headers(tokens["admin"])
    created = client.post("/api/v1/courses", json=document, headers=admin)
    assert created.status_code == 422 and created.json()["field"] == "patient.id"
    assert "\r" not in created.text and "\u202e" not in created.text
    searched = client.post("/api/v1/patients/search", json={"id": bad}, headers=admin)
    assert searched.status_code == 422
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "Patient",
                    "id": bad,
                    "gender": "female",
                    "birthDate": "1971-03-14",
                }
            }
        ],
    }
    imported = client.post("/api/v1/fhir/import?create=true", json=bundle, headers=admin)
    assert imported.status_code == 422
    assert client.get("/api/v1/patients", headers=admin).json()["count"] == 0


@pytest.mark.parametrize(
    "good", ["DEMO-0001", "MRN 123 456", "Müller-ß/7", "患者-12", "A", "x" * 64, "#12/34.5"]
)
def test_printable_patient_ids_are_accepted(good: str) -> None:
    from inoplan.document import parse_course

    assert parse_course(course_document(0, patient_id=good)).patient.id == good


def test_the_web_filter_refuses_an_unprintable_id(app: Any, tokens: Any) -> None:
    with TestClient(app, base_url=HTTPS) as browser:
        web_login(browser, "viewer", PASSWORD)
        page = browser.get("/")
        csrf = CSRF.search(page.text)
        assert csrf is not None
        refused = browser.post("/", data={"patient": "MRN\r\n1", "csrf_token": csrf.group(1)})
        assert refused.status_code == 422


# -- headers -----------------------------------------------------------------------------------


def _phi_responses(app: Any, client: Any, tokens: Any, course_id: int) -> Iterator[Any]:
    admin = headers(tokens["admin"])
    course = f"/api/v1/courses/{course_id}"
    for path in (
        "/api/v1/courses",
        course,
        f"{course}/export",
        f"{course}/plan",
        f"{course}/decision?on={TODAY}",
        f"{course}/decisions",
        f"{course}/audit",
        f"{course}/fhir?on={TODAY}",
        "/api/v1/patients",
        "/api/v1/patients/1",
        "/api/v1/audit",
        "/api/v1/me",
        "/api/v1/courses/999999",  # 404
    ):
        yield client.get(path, headers=admin)
    yield client.get("/api/v1/courses")  # 401
    yield client.post("/api/v1/patients/search", json={"id": MRN}, headers=admin)
    yield client.post("/api/v1/auth/token", data={"username": "admin", "password": PASSWORD})
    yield client.get("/readyz")
    with TestClient(app, base_url=HTTPS) as browser:
        yield browser.get("/login")
        web_login(browser, "admin", PASSWORD)
        for path in (
            f"/?on={TODAY}&show=all",
            f"/courses/{course_id}?on={TODAY}",
            f"/courses/{course_id}/calendar.ics",
            f"/courses/{course_id}/handout.pdf",
        ):
            yield browser.get(path)


def test_every_phi_response_says_no_store(
    app: Any, client: Any, tokens: Any, seeded: dict[str, Any]
) -> None:
    for response in _phi_responses(app, client, tokens, seeded["course_id"]):
        assert response.headers.get("cache-control") == "no-store", response.request.url
        assert response.headers.get("x-content-type-options") == "nosniff"
    asset = client.get("/assets/app.css")
    if asset.status_code == 200:  # static files may be cached; they hold no patient data
        assert "no-store" not in asset.headers["cache-control"]


def test_hsts_is_sent_over_tls_only(app: Any, tokens: Any) -> None:
    with TestClient(app, base_url=HTTPS) as tls:
        sts = tls.get("/healthz").headers.get("strict-transport-security")
        assert sts is not None and "max-age=31536000" in sts
    with TestClient(app) as plain:
        assert "strict-transport-security" not in plain.get("/healthz").headers


def test_hsts_follows_a_public_https_url_behind_a_proxy(db_url: str) -> None:
    app = make_app(db_url, public_url="https://inoplan.example.org")
    with TestClient(app) as behind_proxy:  # the proxy speaks plain HTTP to the service
        assert "max-age" in behind_proxy.get("/healthz").headers["strict-transport-security"]


# -- body size ---------------------------------------------------------------------------------


@pytest.fixture
def small(db_url: str) -> Iterator[Any]:
    from tests.integration.records_helpers import add_users

    app = make_app(db_url, max_body_bytes=4096)
    with TestClient(app) as client:
        add_users(app.state.database)
        yield client


def test_a_body_over_the_limit_gets_413_and_nothing_is_stored(small: Any) -> None:
    from tests.integration.records_helpers import add_users

    tokens = add_users(small.app.state.database)
    admin = headers(tokens["admin"])
    document = course_document(0)
    document["events"] += [copy.deepcopy(document["events"][0]) for _ in range(60)]
    too_big = small.post("/api/v1/courses", json=document, headers=admin)
    assert too_big.status_code == 413
    assert too_big.headers["content-type"].startswith("application/problem+json")
    assert small.get("/api/v1/courses", headers=admin).json()["count"] == 0
    for path in ("/api/v1/auth/token", "/login", "/cds-services/inoplan-order-sign"):
        assert small.post(path, content=b"x" * 5000).status_code == 413
    assert small.post("/api/v1/courses", json=course_document(0), headers=admin).status_code == 201


def test_a_chunked_body_is_cut_off_at_the_limit(small: Any) -> None:
    from tests.integration.records_helpers import add_users

    tokens = add_users(small.app.state.database)

    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b'{"padding": "' + b"x" * 1000 + b'"}'

    response = small.post(
        "/api/v1/courses",
        content=chunks(),
        headers={**headers(tokens["admin"]), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
