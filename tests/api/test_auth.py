"""Tokens, 401 on every protected route, and the role check (403) on every route."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from inoplan.services.auth import PERMISSIONS, ROLES, can, issue_token
from tests.integration.records_helpers import (
    PASSWORD,
    SECRET,
    course_document,
    headers,
    vitals_event,
)

# (method, path template, action, body). Events need one row per event type: the role check
# depends on what is recorded. {id} is replaced by a real course id.
LAB = {
    "date": "2026-11-29",
    "type": "labs",
    "anc": {"value": 1.5, "unit": "10*9/L"},
}
EVENTS: dict[str, dict[str, Any]] = {
    "vitals": vitals_event(1),
    "labs": LAB,
    "ecg": {"date": "2026-11-29", "type": "ecg", "qtcf_ms": 430},
    "pregnancy_test": {"date": "2026-11-29", "type": "pregnancy_test", "result": "negative"},
    "administration": {
        "date": "2026-11-30",
        "type": "administration",
        "cycle": 1,
        "day": 8,
        "dose_mg": 0.86,
    },
    "toxicity": {"date": "2026-11-29", "type": "toxicity", "term": "fatigue", "grade": 1},
    "response": {"date": "2026-11-29", "type": "response", "status": "PR"},
    "medication": {
        "date": "2026-11-29",
        "type": "medication",
        "name": "ondansetron",
        "action": "start",
    },
    "hsct": {
        "date": "2026-11-29",
        "type": "hsct",
        "planned": True,
        "conditioning": ["fludarabine"],
    },
    "discontinuation": {
        "date": "2026-11-29",
        "type": "discontinuation",
        "reason": "patient choice",
    },
}


def _action(event_type: str) -> str:
    return "dose.override" if event_type == "administration" else f"event.{event_type}"


#: A void needs its own action and the action of its target's type; of a recorded dose (cycle 1
#: day 1 here), dose.override (review H2/H3: taking back a dose given is a prescriber's call).
VOID = {
    "date": "2026-11-29",
    "type": "void",
    "supersedes": "c1d1",
    "reason": "entered in error (route table test)",
}
ROUTES: list[tuple[str, str, str | tuple[str, ...] | None, Any]] = [
    ("GET", "/api/v1/courses", "course.read", None),
    ("GET", "/api/v1/today", "course.read", None),
    ("POST", "/api/v1/courses", "course.create", "DOCUMENT"),
    ("GET", "/api/v1/courses/{id}", "course.read", None),
    ("GET", "/api/v1/courses/{id}/export", "course.read", None),
    *[
        # a new administration is a direct one (review H2): the give step records the workflow's
        # doses, a dose outside it is a prescriber's override (services.guards.authorize_event)
        ("POST", "/api/v1/courses/{id}/events", _action(t), body)
        for t, body in EVENTS.items()
    ],
    ("POST", "/api/v1/courses/{id}/events", ("event.void", "dose.override"), VOID),
    ("GET", "/api/v1/courses/{id}/plan", "course.read", None),
    ("GET", "/api/v1/courses/{id}/decision?on=2026-12-01", "course.read", None),
    ("GET", "/api/v1/courses/{id}/decisions", "course.read", None),
    ("GET", "/api/v1/courses/{id}/exposure", "course.read", None),
    ("GET", "/api/v1/courses/{id}/audit", "audit.read", None),
    ("POST", "/api/v1/courses/{id}/decisions/1/confirmation", "decision.confirm", {"note": "ok"}),
    ("POST", "/api/v1/courses/{id}/acknowledgements", "course.acknowledge", {"note": "seen"}),
    (
        "POST",
        "/api/v1/courses/{id}/verifications",
        "dose.verify",
        {"cycle": 1, "day": 8, "dose_mg": 0.86},
    ),
    ("GET", "/api/v1/courses/{id}/days", "course.read", None),
    ("POST", "/api/v1/courses/{id}/days/1/8/release", "dose.release", {}),
    ("POST", "/api/v1/courses/{id}/days/1/8/verify", "dose.verify", {"dose_mg": 0.86}),
    (
        "POST",
        "/api/v1/courses/{id}/days/1/8/prepare",
        "dose.prepare",
        {
            "lot": "L1",
            "expiry": "2099-01-01",
            "second_signer": {"username": "nobody", "password": "not the password"},
        },
    ),
    (
        "POST",
        "/api/v1/courses/{id}/days/1/8/give",
        "dose.give",
        {
            "started_at": "09:00",
            "ended_at": "10:00",
            "premedication": True,
            "observation_end": "11:00",
            "second_signer": {"username": "nobody", "password": "not the password"},
        },
    ),
    ("POST", "/api/v1/courses/{id}/days/1/8/withdraw", "dose.withdraw", {"reason": "test"}),
    # a booking off the plan is a 422 for a role that may book, a 403 for the others
    (
        "PUT",
        "/api/v1/courses/{id}/days/1/8/appointment",
        "day.schedule",
        {"starts_at": "2099-01-01T09:00:00Z"},
    ),
    ("DELETE", "/api/v1/courses/{id}/days/1/8/appointment", "day.schedule", None),
    ("GET", "/api/v1/patients", "course.read", None),
    ("GET", "/api/v1/patients/1", "course.read", None),
    ("POST", "/api/v1/patients/search", "course.read", {"id": "DEMO-0001"}),
    ("GET", "/api/v1/audit", "audit.verify", None),
    ("GET", "/api/v1/audit/verify", "audit.verify", None),
    ("GET", "/api/v1/users", "user.manage", None),
    (
        "POST",
        "/api/v1/users",
        "user.manage",
        {"username": "new.user", "password": "long enough pw", "role": "viewer"},
    ),
    # a user that does not exist: the admin gets 404, every other role 403, nothing changes
    ("PATCH", "/api/v1/users/nobody", "user.manage", {"role": "viewer"}),
    ("PUT", "/api/v1/users/nobody/password", "user.manage", {"password": "a long passphrase 7"}),
    ("DELETE", "/api/v1/users/nobody/throttle", "user.manage", None),
    ("GET", "/api/v1/me", None, None),  # any authenticated user
    ("GET", "/api/v1/vocabulary", None, None),  # the coded terms: any authenticated user
    ("GET", "/api/v1/vocabulary/match?text=SOS%2FVOD", None, None),
    # mounted by the CDS Hooks/FHIR adapter (inoplan.api.cds_hooks)
    (
        "POST",
        "/api/v1/fhir/import",
        "course.read",
        {"resourceType": "Bundle", "type": "collection", "entry": []},
    ),
    ("GET", "/api/v1/courses/{id}/fhir?on=2026-12-01", "course.read", None),
]
PUBLIC = {("POST", "/api/v1/auth/token"), ("GET", "/healthz")}
#: Ends the caller's sessions (tested on its own: it would revoke the shared tokens).
LOGOUT = ("POST", "/api/v1/auth/logout")


def _api_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) of the REST API, as the OpenAPI document lists them."""
    found: set[tuple[str, str]] = set()
    for path, item in app.openapi()["paths"].items():
        if path.startswith("/api/") or path == "/healthz":
            found.update((method.upper(), path) for method in item)
    return found


def _template(path: str) -> str:
    return (
        path.split("?")[0]
        .replace("{id}", "{course_id}")
        .replace("/patients/1", "/patients/{patient_key}")
        .replace("/users/nobody", "/users/{username}")
        .replace("/decisions/1/", "/decisions/{decision_id}/")
        .replace("/days/1/8/", "/days/{cycle}/{day}/")
    )


def test_the_route_table_covers_every_api_route(app: FastAPI) -> None:
    covered = {(m, _template(p)) for m, p, _, _ in ROUTES} | PUBLIC | {LOGOUT}
    assert _api_routes(app) == covered


def test_the_matrix_names_every_role_and_admin_may_do_everything() -> None:
    assert set().union(*PERMISSIONS.values()) <= set(ROLES)
    assert all(can("admin", action) for action in PERMISSIONS)
    assert not any(can("viewer", a) for a in PERMISSIONS if a != "course.read")
    with pytest.raises(KeyError):
        can("admin", "course.delete")


def _call(client: TestClient, method: str, path: str, body: Any, course_id: int, token: str | None):  # type: ignore[no-untyped-def]
    url = path.replace("{id}", str(course_id))
    extra = {"If-Match": "1"} if path.endswith("/events") else {}  # may be stale: 409 is fine
    hdrs = headers(token, **extra) if token else extra
    if body == "DOCUMENT":
        body = course_document(2)
    return client.request(method, url, json=body, headers=hdrs)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One app, users and course for the whole route table (fast)."""
    import os

    from fastapi.testclient import TestClient

    from inoplan.api import create_app
    from tests.integration.records_helpers import add_users, settings_for

    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("INOPLAN_") and not name.startswith(
                ("INOPLAN_TEST_", "INOPLAN_REQUIRE_")
            ):
                mp.delenv(name)
        path = tmp_path_factory.mktemp("routes") / "routes.db"
        with TestClient(create_app(settings_for(f"sqlite:///{path}"))) as client:
            tokens = add_users(cast(FastAPI, client.app).state.database)
            response = client.post(
                "/api/v1/courses", json=course_document(0), headers=headers(tokens["admin"])
            )
            yield client, tokens, int(response.json()["id"])


def _version(client: TestClient, tokens: dict[str, str], course_id: int) -> int:
    return int(
        client.get(f"/api/v1/courses/{course_id}", headers=headers(tokens["admin"])).json()[
            "version"
        ]
    )


ROUTE_IDS = [
    f"{m} {p.split('?')[0]} {'+'.join(a) if isinstance(a, tuple) else a}" for m, p, a, _ in ROUTES
]


def _may(role: str, action: str | tuple[str, ...] | None) -> bool:
    if action is None:
        return True
    return all(can(role, a) for a in ((action,) if isinstance(action, str) else action))


@pytest.mark.parametrize(("method", "path", "action", "body"), ROUTES, ids=ROUTE_IDS)
def test_every_protected_route_needs_a_token(shared, method, path, action, body) -> None:  # type: ignore[no-untyped-def]
    client, _, course_id = shared
    response = _call(client, method, path, body, course_id, None)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "action", "body"), ROUTES, ids=ROUTE_IDS)
def test_the_role_check_on_every_route(shared, role, method, path, action, body) -> None:  # type: ignore[no-untyped-def]
    client, tokens, course_id = shared
    before = _version(client, tokens, course_id)
    response = _call(client, method, path, body, course_id, tokens[role])
    allowed = _may(role, action)
    if allowed:
        assert response.status_code not in {401, 403}, response.text
        assert response.status_code < 500, response.text
    else:
        assert response.status_code == 403, response.text
        assert "may not" in response.json()["detail"]
        assert _version(client, tokens, course_id) == before  # nothing written when refused


def test_the_password_flow_issues_a_working_token(
    client: TestClient, tokens: dict[str, str]
) -> None:
    response = client.post("/api/v1/auth/token", data={"username": "nurse", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    me = client.get("/api/v1/me", headers=headers(body["access_token"])).json()
    assert me["role"] == "nurse" and "event.labs" in me["permissions"]


def test_a_wrong_password_or_unknown_user_gets_401(
    client: TestClient, tokens: dict[str, str]
) -> None:
    for username, password in (("nurse", "wrong password!"), ("nobody", PASSWORD)):
        response = client.post(
            "/api/v1/auth/token", data={"username": username, "password": password}
        )
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")


def test_an_expired_or_forged_token_gets_401(client: TestClient, tokens: dict[str, str]) -> None:
    class Who:
        username = "admin"
        role = "admin"

    old = datetime.now(UTC) - timedelta(hours=3)
    expired, _ = issue_token(Who(), secret=SECRET, minutes=60, now=old)
    forged, _ = issue_token(Who(), secret="another-secret-" + "x" * 40, minutes=60)
    for token in (expired, forged, "not-a-jwt"):
        response = client.get("/api/v1/courses", headers=headers(token))
        assert response.status_code == 401, token
    assert "expired" in client.get("/api/v1/courses", headers=headers(expired)).json()["detail"]


def test_a_token_of_a_removed_user_no_longer_works(
    client: TestClient, tokens: dict[str, str]
) -> None:
    from sqlalchemy import update

    from inoplan.persistence.rows import UserRow

    with cast(FastAPI, client.app).state.database.uow(write=True) as uow:
        uow.session.execute(update(UserRow).where(UserRow.username == "nurse").values(active=False))
        uow.commit()
    assert client.get("/api/v1/courses", headers=headers(tokens["nurse"])).status_code == 401


def test_healthz_needs_no_token(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_users_are_added_by_admins_and_can_log_in(
    client: TestClient, tokens: dict[str, str]
) -> None:
    body = {"username": "dr.lee", "password": "a long passphrase 7", "role": "prescriber"}
    created = client.post("/api/v1/users", json=body, headers=headers(tokens["admin"]))
    assert created.status_code == 201 and created.json()["role"] == "prescriber"
    assert "password" not in created.text
    again = client.post("/api/v1/users", json=body, headers=headers(tokens["admin"]))
    assert again.status_code == 409
    bad_role = client.post(
        "/api/v1/users",
        json={**body, "username": "x", "role": "surgeon"},
        headers=headers(tokens["admin"]),
    )
    assert bad_role.status_code == 422 and bad_role.json()["field"] == "role"
    token = client.post(
        "/api/v1/auth/token", data={"username": "dr.lee", "password": "a long passphrase 7"}
    )
    assert token.status_code == 200
