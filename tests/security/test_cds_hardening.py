"""Findings 3, 4 and 7 (CDS): the EHR's token goes only to an allow-listed FHIR server over
https, ids cannot change a FHIR query, the audience comes from the configured public URL (never
from Host or X-Forwarded-* headers), and a refused token cannot inject log lines."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from inoplan.interop.security import load_issuers, normalize_fhir_base
from tests.interop.helpers import SANDBOX_ISS, draft_order, mint, sandbox_public_jwks
from tests.interop.test_cds_api import AUTHZ, first_dose_prefetch, hook_request

PUBLIC = "https://inoplan.example.org"
SIGN = "inoplan-order-sign"
ALLOWED = "https://ehr.example.org/fhir"


@pytest.fixture
def cds_app(tmp_path: Path) -> Any:
    from datetime import date

    from inoplan.api.app import create_app
    from inoplan.config import Settings

    (tmp_path / "sandbox.json").write_text(json.dumps(sandbox_public_jwks()))
    (tmp_path / "issuers.toml").write_text(
        f'[[issuer]]\niss = "{SANDBOX_ISS}"\njwks_file = "sandbox.json"\nmax_lifetime_s = 300\n'
        f'fhir_servers = ["{ALLOWED}/", "https://EHR2.example.org:443/R4"]\n'
    )
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'cds.db'}",
        cds_issuers=tmp_path / "issuers.toml",
        public_url=PUBLIC,
    )
    application = create_app(settings)
    application.state.cds_today = lambda: date(2027, 3, 1)
    return application


@pytest.fixture
def cds(cds_app: Any) -> Iterator[Any]:
    with TestClient(cds_app, base_url=PUBLIC) as client:
        yield client


def _token(aud: str = f"{PUBLIC}/cds-services/{SIGN}", **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint(aud, now=int(time.time()), **claims)}"}


class Listener:
    """A FHIR server transport that records every request (and answers from ``data``)."""

    def __init__(self, data: dict[str, Any] | None = None, redirect: str | None = None) -> None:
        self.seen: list[httpx.Request] = []
        self.data = data or {}
        self.redirect = redirect

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if self.redirect:
            return httpx.Response(302, headers={"Location": self.redirect})
        for key, value in self.data.items():
            if key in str(request.url):
                return httpx.Response(200, json=value)
        return httpx.Response(404, json={"resourceType": "OperationOutcome", "issue": []})


def _call_with_server(cds: Any, app: Any, server: str, listener: Listener, **context: Any) -> Any:
    app.state.cds_http_transport = httpx.MockTransport(listener)
    prefetch = first_dose_prefetch()
    weight = prefetch.pop("weight")
    listener.data.setdefault("29463-7", weight)
    body = hook_request(
        "order-sign",
        prefetch,
        draft_order(mg_per_m2=0.8, mg=1.69),
        fhirServer=server,
        fhirAuthorization=AUTHZ,
    )
    body["context"].update(context)
    return cds.post(f"/cds-services/{SIGN}", json=body, headers=_token())


def test_an_allow_listed_server_is_called_with_the_token(cds: Any, cds_app: Any) -> None:
    listener = Listener()
    response = _call_with_server(cds, cds_app, ALLOWED, listener)
    assert response.status_code == 200, response.text
    assert listener.seen and all(str(r.url).startswith(ALLOWED + "/") for r in listener.seen)
    assert listener.seen[0].headers["authorization"] == "Bearer opaque-ehr-token"


@pytest.mark.parametrize(
    "server",
    [
        "https://listener.attacker.example/fhir",
        "http://ehr.example.org/fhir",  # clear text
        "https://ehr.example.org.attacker.example/fhir",
        "https://ehr.example.org@attacker.example/fhir",
        "https://attacker.example/fhir?x=https://ehr.example.org/fhir",
        "https://ehr.example.org/fhir/../admin",
        "https://ehr.example.org/fhir/%2e%2e/admin",
        "https://ehr.example.org/fhir#frag",
        "https://ehr.example.org:8443/fhir",
        "https://ehr.example.org/fhirX",
        "https://ehr.example.org/",
        "https://ehr.example.org/fhir\\..\\admin",
        "https://127.0.0.1/fhir",
        "file:///etc/passwd",
        "",
    ],
)
def test_the_token_is_never_sent_to_a_server_not_allow_listed(
    cds: Any, cds_app: Any, server: str
) -> None:
    listener = Listener()
    response = _call_with_server(cds, cds_app, server, listener)
    assert listener.seen == []  # nothing was sent anywhere
    assert response.status_code == 412  # the missing weight could not be fetched


def test_spellings_of_an_allowed_server_are_recognised(cds: Any, cds_app: Any) -> None:
    for server in (ALLOWED + "/", "https://EHR.example.org/fhir", "https://ehr2.example.org/R4"):
        listener = Listener()
        response = _call_with_server(cds, cds_app, server, listener)
        assert response.status_code == 200, (server, response.text)
        assert listener.seen


def test_a_redirect_from_the_fhir_server_is_not_followed(cds: Any, cds_app: Any) -> None:
    listener = Listener(redirect="https://listener.attacker.example/steal")
    response = _call_with_server(cds, cds_app, ALLOWED, listener)
    assert response.status_code == 412
    assert {r.url.host for r in listener.seen} == {"ehr.example.org"}


@pytest.mark.parametrize(
    "patient_id",
    [
        "pt-1&code=evil",
        "pt-1?_format=xml",
        "../Patient/pt-2",
        "pt-1/_history/1",
        "pt%2F1",
        "pt 1",
        "pt-1\r\nX-Injected: 1",
        "Patient/pt-1/../../admin",
        "https://attacker.example/Patient/1",
        "x" * 65,
        "pt-1#",
    ],
)
def test_a_patient_id_cannot_change_a_fhir_query(cds: Any, cds_app: Any, patient_id: str) -> None:
    listener = Listener()
    response = _call_with_server(cds, cds_app, ALLOWED, listener, patientId=patient_id)
    assert response.status_code == 400, response.text
    assert "patientId" in response.json()["issue"][0]["diagnostics"]
    assert listener.seen == []


def test_query_values_are_percent_encoded() -> None:
    from inoplan.interop.cds import _render

    rendered = _render("Observation?patient={{context.patientId}}&x={{context.other}}", {}, "p.1")
    assert rendered == "Observation?patient=p.1&x="
    with pytest.raises(Exception, match="FHIR id"):
        _render("Observation?patient={{context.patientId}}", {}, "a&b=c")


def test_the_audience_is_the_configured_url_not_the_host_header(cds: Any) -> None:
    body = hook_request("order-sign", first_dose_prefetch(), draft_order())
    url = f"/cds-services/{SIGN}"
    # a token minted for another deployment, sent with that deployment's Host header
    other = _token(f"https://other-deployment.example/cds-services/{SIGN}")
    spoofed = {**other, "Host": "other-deployment.example", "X-Forwarded-Proto": "https"}
    assert cds.post(url, json=body, headers=spoofed).status_code == 401
    forwarded = {
        **_token(f"http://evil.example/cds-services/{SIGN}"),
        "X-Forwarded-Host": "evil.example",
        "X-Forwarded-Proto": "http",
        "Forwarded": "host=evil.example;proto=http",
    }
    assert cds.post(url, json=body, headers=forwarded).status_code == 401
    # the right audience is accepted whatever Host the request carries
    right = {**_token(), "Host": "internal-name:8000"}
    assert cds.post(url, json=body, headers=right).status_code == 200


def test_without_a_public_url_every_call_is_refused(tmp_path: Path) -> None:
    from inoplan.api.app import create_app
    from inoplan.config import Settings

    (tmp_path / "sandbox.json").write_text(json.dumps(sandbox_public_jwks()))
    (tmp_path / "issuers.toml").write_text(
        f'[[issuer]]\niss = "{SANDBOX_ISS}"\njwks_file = "sandbox.json"\nmax_lifetime_s = 300\n'
    )
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'x.db'}", cds_issuers=tmp_path / "issuers.toml"
    )
    body = hook_request("order-sign", first_dose_prefetch(), draft_order())
    with TestClient(create_app(settings)) as client:
        for aud in ("http://testserver", PUBLIC):
            response = client.post(
                f"/cds-services/{SIGN}", json=body, headers=_token(f"{aud}/cds-services/{SIGN}")
            )
            assert response.status_code == 401


def test_production_needs_the_public_url_with_cds_issuers(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from inoplan.config import Settings

    with pytest.raises(ValidationError, match="PUBLIC_URL"):
        Settings(
            environment="production",
            secret_key=SecretStr("Zq3v9Lw2Tn8Xb4Rm6Yc1Hp5Kd7Fg0Js2Qa9Wu3Ee8Oi4Ly6"),
            cds_issuers=tmp_path / "issuers.toml",
        )
    with pytest.raises(ValidationError, match="https"):
        Settings(
            environment="production",
            secret_key=SecretStr("Zq3v9Lw2Tn8Xb4Rm6Yc1Hp5Kd7Fg0Js2Qa9Wu3Ee8Oi4Ly6"),
            public_url="http://inoplan.example.org",
        )


def test_the_issuers_file_refuses_a_fhir_server_that_is_not_plain_https(tmp_path: Path) -> None:
    for bad in ("http://ehr.example.org/fhir", "https://u:p@ehr.example.org/", "https://e/?q=1"):
        path = tmp_path / "issuers.toml"
        path.write_text(
            f'[[issuer]]\niss = "x"\njwks_url = "https://x/jwks"\nfhir_servers = ["{bad}"]\n'
        )
        with pytest.raises(ValueError, match="fhir_servers"):
            load_issuers(path)
    assert normalize_fhir_base("https://EHR.example.org:443/a/b/") == "https://ehr.example.org/a/b"


INJECTIONS = [
    "https://evil.example\r\n2026-12-01 INFO inoplan: admin logged in",
    'https://evil.example\n{"level":"INFO","message":"forged"}',
    "x\u202etxt.exe",
    "\x1b[2J\x1b[31mred",
    "a\u2028b\u2029c\u0085d",
]


@pytest.mark.parametrize("value", INJECTIONS)
def test_a_refused_token_cannot_inject_log_lines(
    cds: Any, value: str, caplog: pytest.LogCaptureFixture
) -> None:
    from inoplan.logs import JsonFormatter, TextFormatter

    caplog.set_level(logging.WARNING, logger="inoplan.cds")
    body = hook_request("order-sign", first_dose_prefetch(), draft_order())
    wrong_audience = f"https://other.example/cds-services/{SIGN}"  # refused, jti logged
    for headers in (_token(iss=value), _token(wrong_audience, jti=value)):
        response = cds.post(f"/cds-services/{SIGN}", json=body, headers=headers)
        assert response.status_code == 401
    records = [r for r in caplog.records if r.name == "inoplan.cds"]
    assert len(records) == 2
    for record in records:
        for formatter in (JsonFormatter(), TextFormatter()):
            line = formatter.format(record)
            assert "\n" not in line and "\r" not in line
            assert not any(ord(c) < 32 or c in "\u202e\u2028\u2029\u0085\x7f" for c in line)
        parsed = json.loads(JsonFormatter().format(record))
        assert not any(
            ord(c) < 32 or c in "\u202e\u2028\u2029\u0085"
            for c in json.dumps(parsed, ensure_ascii=False)
        )
