"""``fhir pull``: laboratory Observations from a FHIR server, paged to the end, same mapping.

The server is in-process: an ``httpx.MockTransport`` for the client function, and a small
``http.server`` on the loopback interface for the command line. Nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from inoplan.domain.results import ResultsPolicy
from inoplan.errors import InvalidInput
from inoplan.inbound import handle_fhir
from inoplan.interop.fhir_pull import check_base_url, search_observations
from inoplan.services import results
from inoplan.services.decisions import course_decision
from tests.integration.hl7_helpers import MRN, TODAY, add_course, events_of, feed
from tests.integration.records_helpers import migrated_database

BASE = "https://fhir.example.org/r4"
TOKEN = "s3cr3t-token-value"
UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"


def patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": "p1",
        "identifier": [{"system": "urn:mrn", "value": MRN}],
        "birthDate": "1990-01-20",
        "gender": "female",
    }


def obs(
    oid: str,
    loinc: str,
    value: float,
    unit: str,
    *,
    high: float | None = None,
    low: float | None = None,
    status: str = "final",
    version: str = "1",
    when: str = "2026-04-18T07:30:00+02:00",
    flag: str | None = None,
) -> dict[str, Any]:
    o: dict[str, Any] = {
        "resourceType": "Observation",
        "id": oid,
        "meta": {"versionId": version},
        "status": status,
        "code": {"coding": [{"system": LOINC, "code": loinc}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
    }
    rr: dict[str, Any] = {}
    if high is not None:
        rr["high"] = {"value": high, "unit": unit, "system": UCUM, "code": unit}
    if low is not None:
        rr["low"] = {"value": low, "unit": unit, "system": UCUM, "code": unit}
    if rr:
        o["referenceRange"] = [rr]
    if flag:
        o["interpretation"] = [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                        "code": flag,
                    }
                ]
            }
        ]
    return o


PAGE_1 = [
    obs("anc-1", "751-8", 0.9, "10*9/L", low=1.8, high=7.7, flag="L"),
    obs("plt-1", "777-3", 61, "10*3/uL", low=150, high=400),
    patient(),
]
PAGE_2 = [
    obs("bili-1", "1975-2", 2.1, "mg/dL", high=1.1, flag="H"),
    obs("ast-1", "1920-8", 95, "U/L", high=35),
    obs("alt-1", "1742-6", 110, "U/L", high=35),
    obs("hgb-1", "718-7", 10.1, "g/dL"),  # not used by inoplan
]


def bundle(resources: list[dict[str, Any]], next_url: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }
    if next_url:
        out["link"] = [{"relation": "next", "url": next_url}]
    return out


def fake_server(
    pages: list[list[dict[str, Any]]], seen: list[httpx.Request], *, next_base: str = BASE
) -> Callable[[httpx.Request], httpx.Response]:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return httpx.Response(401)
        page = int(request.url.params.get("page", "0"))
        following = f"{next_base}/Observation?page={page + 1}" if page + 1 < len(pages) else None
        return httpx.Response(200, json=bundle(pages[page], following))

    return handle


def pull(database: Any, transport: Any, policy: ResultsPolicy | None = None) -> list[Any]:
    policy = policy or ResultsPolicy(identifier_system="urn:mrn")
    ctx = feed(database, policy)
    with httpx.Client(transport=transport) as client:
        return [
            handle_fhir(ctx, pulled, sender=BASE)
            for pulled in search_observations(client, BASE, [MRN], policy=policy, token=TOKEN)
        ]


def test_all_pages_are_followed_and_results_land(database: Any) -> None:
    course = add_course(database)
    seen: list[httpx.Request] = []
    outcomes = pull(database, httpx.MockTransport(fake_server([PAGE_1, PAGE_2], seen)))
    assert len(seen) == 2  # the next link was followed to the end
    first = seen[0].url.params
    assert first["patient.identifier"] == f"urn:mrn|{MRN}"
    assert f"{LOINC}|1975-2" in first["code"] and first["_include"] == "Observation:patient"
    assert [o.state for o in outcomes] == ["applied"] * 5 + ["ignored"]
    assert course_decision(database, course, TODAY)["status"] == "hold"
    again = pull(database, httpx.MockTransport(fake_server([PAGE_1, PAGE_2], [])))
    assert all(o.duplicate for o in again)
    assert len(events_of(database, course)) == 6 + 5


def test_a_new_version_of_an_observation_supersedes_it(database: Any) -> None:
    course = add_course(database)
    pull(database, httpx.MockTransport(fake_server([PAGE_1, PAGE_2], [])))
    amended = obs("bili-1", "1975-2", 0.9, "mg/dL", high=1.1, status="amended", version="2")
    outcomes = pull(database, httpx.MockTransport(fake_server([[amended, patient()]], [])))
    assert outcomes[0].state == "applied"
    [event] = [e for e in events_of(database, course) if e.get("id") == outcomes[0].event_ids[0]]
    assert event["bilirubin"]["value"] == 0.9 and event["supersedes"].startswith("fhir-")
    withdrawn = obs("ast-1", "1920-8", 95, "U/L", status="entered-in-error", version="2")
    [gone] = pull(database, httpx.MockTransport(fake_server([[withdrawn, patient()]], [])))
    [void] = [e for e in events_of(database, course) if e.get("id") == gone.event_ids[0]]
    assert void["type"] == "void"


@pytest.mark.parametrize(
    ("observation", "code"),
    [
        (obs("bili-9", "1975-2", 1.4, "mg/dL"), "no_uln"),
        (obs("plt-9", "777-3", 61, "K/uL"), "unknown_unit"),  # UCUM K/uL is kelvin
        (obs("anc-9", "751-8", 3.0, "10*9/L", high=7.7, flag="H"), "flag_contradiction"),
        ({**obs("x-9", "751-8", 1, "10*9/L"), "code": {"coding": [{"code": "X"}]}}, "unknown_code"),
    ],
)
def test_what_cannot_be_used_is_parked(database: Any, observation: Any, code: str) -> None:
    add_course(database)
    [outcome] = pull(database, httpx.MockTransport(fake_server([[observation, patient()]], [])))
    assert outcome.state == "parked" and [p.code for p in outcome.problems] == [code]
    assert results.get_message(database, outcome.message_id).channel == "fhir"


def test_a_result_for_someone_else_is_not_recorded(database: Any) -> None:
    add_course(database)
    stranger = {**patient(), "identifier": [{"system": "urn:mrn", "value": "MRN-0000"}]}
    [outcome] = pull(database, httpx.MockTransport(fake_server([[PAGE_1[0], stranger]], [])))
    assert [p.code for p in outcome.problems] == ["identity_mismatch"]


def test_a_next_link_to_another_server_is_not_followed(database: Any) -> None:
    add_course(database)
    seen: list[httpx.Request] = []
    transport = httpx.MockTransport(
        fake_server([PAGE_1, PAGE_2], seen, next_base="https://evil.example.net/r4")
    )
    with pytest.raises(InvalidInput, match="another server"):
        pull(database, transport)
    assert all(r.url.host == "fhir.example.org" for r in seen)  # the token went nowhere else


def test_paging_is_bounded_and_errors_are_named() -> None:
    loop = [obs(f"a-{i}", "751-8", 1, "10*9/L") for i in range(2)]
    endless = httpx.MockTransport(
        lambda r: httpx.Response(200, json=bundle(loop, f"{BASE}/Observation?page=1"))
    )
    policy = ResultsPolicy()
    with httpx.Client(transport=endless) as client, pytest.raises(InvalidInput, match="pages"):
        list(search_observations(client, BASE, [MRN], policy=policy, max_pages=3))
    broken = httpx.MockTransport(lambda r: httpx.Response(500))
    with httpx.Client(transport=broken) as client, pytest.raises(InvalidInput, match="500"):
        list(search_observations(client, BASE, [MRN], policy=policy))


@pytest.mark.parametrize(
    "url",
    ["http://fhir.example.org/r4", "https://user:pw@fhir.example.org", "ftp://x", "https://x/?a=1"],
)
def test_only_https_without_credentials_except_loopback(url: str) -> None:
    with pytest.raises(InvalidInput):
        check_base_url(url)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/fhir", "http://localhost/fhir", "http://[::1]:1/"]
)
def test_loopback_may_use_http(url: str) -> None:
    assert check_base_url(url) == url.rstrip("/")


# -- the command line against a real loopback server ---------------------------------------------


@contextmanager
def loopback_fhir(pages: list[list[dict[str, Any]]]) -> Iterator[tuple[str, list[str]]]:
    tokens: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            tokens.append(self.headers.get("Authorization", ""))
            query = parse_qs(urlsplit(self.path).query)
            page = int(query.get("page", ["0"])[0])
            address: Any = self.server.server_address
            host, port = address[0], address[1]
            base = f"http://{host}:{port}/fhir"
            following = f"{base}/Observation?page={page + 1}" if page + 1 < len(pages) else None
            body = json.dumps(bundle(pages[page], following)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/fhir", tokens
    finally:
        server.shutdown()
        server.server_close()


def test_the_fhir_pull_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pull.db'}"
    database = migrated_database(url)
    course = add_course(database)
    policy_file = tmp_path / "site.toml"
    policy_file.write_text('[results]\nidentifier_system = "urn:mrn"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("INOPLAN_")}
    env.update(
        INOPLAN_DATABASE_URL=url, INOPLAN_FHIR_TOKEN=TOKEN, INOPLAN_SITE_POLICY=str(policy_file)
    )
    with loopback_fhir([PAGE_1, PAGE_2]) as (base, tokens):
        done = subprocess.run(
            [sys.executable, "-m", "inoplan", "fhir", "pull", "--base", base, "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["state"] for line in lines] == ["applied"] * 5 + ["ignored"]
    assert tokens == [f"Bearer {TOKEN}"] * 2
    assert TOKEN not in done.stdout + done.stderr
    assert len(events_of(database, course)) == 11
    database.dispose()
