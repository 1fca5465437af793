"""Operations: ``/readyz`` checks the database and the migrations; ``/metrics`` (Prometheus)
needs its own bearer token and counts requests by route template, decisions by status, CDS
calls by hook and logins by outcome, with no patient data."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from pydantic import SecretStr

from tests.integration.records_helpers import (
    PASSWORD,
    TODAY,
    course_document,
    headers,
    settings_for,
)
from tests.security.security_helpers import free_port

METRICS_TOKEN = "Hq7Rz2Lw9Xv4Nc8Tp1Mk5Bd3Fs6Gj0Ya2Ue7Wi4Oq9Zr"


def test_readyz_is_ready_with_a_migrated_database(client: Any) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": "ok", "migrations": "at head"}


def test_readyz_is_not_ready_when_the_schema_is_behind(client: Any) -> None:
    from sqlalchemy import text

    with client.app.state.database.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0001_initial'"))
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready" and body["database"] == "ok"
    assert "0001_initial" in body["migrations"]


def test_readyz_is_not_ready_when_the_database_is_unreachable() -> None:
    from inoplan.api import create_app

    closed = free_port()  # nothing listens there
    settings = settings_for(f"postgresql+psycopg://postgres@127.0.0.1:{closed}/test")
    with TestClient(create_app(settings, migrate=False)) as client:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json() == {
            "status": "not ready",
            "database": "unreachable",
            "migrations": "unknown",
        }
        assert client.get("/healthz").status_code == 200  # alive, but not ready
        from inoplan.services.auth import Principal, issue_token
        from tests.integration.records_helpers import SECRET

        token, _ = issue_token(Principal("admin", "admin"), secret=SECRET, minutes=5)
        down = client.get("/api/v1/courses", headers=headers(token))
        assert down.status_code == 503  # never a 500: nothing was saved, try again
        assert down.headers["Retry-After"] == "5"
        assert down.headers["content-type"].startswith("application/problem+json")


def _metrics(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    response = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    values = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def _value(values: dict[Any, float], name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in values.items() if n == name and set(labels.items()) <= set(ls))


def test_metrics_need_their_token_and_do_not_exist_without_one(client: Any) -> None:
    assert client.get("/metrics").status_code == 404  # no token configured
    from inoplan.api import create_app

    app = create_app(
        settings_for(client.app.state.settings.database_url, metrics_token=SecretStr(METRICS_TOKEN))
    )
    with TestClient(app) as metered:
        assert metered.get("/metrics").status_code == 401
        wrong = {"Authorization": "Bearer " + METRICS_TOKEN[:-1] + "x"}
        assert metered.get("/metrics", headers=wrong).status_code == 401
        assert _metrics(metered)


def test_metrics_count_routes_decisions_and_logins(db_url: str) -> None:
    from inoplan.api import create_app
    from tests.integration.records_helpers import add_users

    app = create_app(settings_for(db_url, metrics_token=SecretStr(METRICS_TOKEN)))
    with TestClient(app) as client:
        tokens = add_users(app.state.database)
        before = _metrics(client)
        document = course_document(0, patient_id="MRN-METRICS-77")
        course = client.post("/api/v1/courses", json=document, headers=headers(tokens["admin"]))
        course_id = course.json()["id"]
        decision = client.get(
            f"/api/v1/courses/{course_id}/decision?on={TODAY}", headers=headers(tokens["viewer"])
        ).json()
        client.post("/api/v1/auth/token", data={"username": "nurse", "password": PASSWORD})
        client.post("/api/v1/auth/token", data={"username": "nurse", "password": "no no no"})
        after = _metrics(client)
        text = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
    route = "/api/v1/courses/{course_id}/decision"
    name = "inoplan_http_request_duration_seconds_count"
    assert (
        _value(after, name, route=route, status="200")
        - _value(before, name, route=route, status="200")
        == 1
    )
    status = decision["status"]
    counted = "inoplan_decisions_total"
    assert (
        _value(after, counted, status=status, via="records")
        - _value(before, counted, status=status, via="records")
        == 1
    )
    for outcome in ("ok", "failed"):
        assert (
            _value(after, "inoplan_logins_total", outcome=outcome)
            - _value(before, "inoplan_logins_total", outcome=outcome)
            == 1
        )
    assert "MRN-METRICS-77" not in text and f"/courses/{course_id}" not in text


def test_cds_calls_are_counted_by_hook(tmp_path: Any) -> None:
    import json
    import time
    from datetime import date

    from inoplan.api.app import create_app
    from inoplan.config import Settings
    from tests.interop.helpers import SANDBOX_ISS, draft_order, mint, sandbox_public_jwks
    from tests.interop.test_cds_api import first_dose_prefetch, hook_request

    (tmp_path / "sandbox.json").write_text(json.dumps(sandbox_public_jwks()))
    (tmp_path / "issuers.toml").write_text(
        f'[[issuer]]\niss = "{SANDBOX_ISS}"\njwks_file = "sandbox.json"\nmax_lifetime_s = 300\n'
    )
    public = "https://inoplan.example.org"
    app = create_app(
        Settings(
            database_url=f"sqlite:///{tmp_path / 'cds.db'}",
            cds_issuers=tmp_path / "issuers.toml",
            public_url=public,
            metrics_token=SecretStr(METRICS_TOKEN),
        )
    )
    app.state.cds_today = lambda: date(2027, 3, 1)
    service = "inoplan-order-sign"
    body = hook_request("order-sign", first_dose_prefetch(), draft_order())
    with TestClient(app) as client:
        before = _metrics(client)
        token = mint(f"{public}/cds-services/{service}", now=int(time.time()))
        ok = client.post(
            f"/cds-services/{service}", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert ok.status_code == 200
        client.post(f"/cds-services/{service}", json=body)  # refused
        after = _metrics(client)
    name = "inoplan_cds_calls_total"
    for outcome in ("cards", "refused"):
        assert (
            _value(after, name, hook="order-sign", outcome=outcome)
            - _value(before, name, hook="order-sign", outcome=outcome)
            == 1
        )
    assert (
        _value(after, "inoplan_decisions_total", via="cds")
        - _value(before, "inoplan_decisions_total", via="cds")
        == 1
    )
