"""CDS Hooks benchmark: an ``order-sign`` call beside a bare FastAPI echo, same server settings.

What it does (all on loopback, every load run bounded in time):

1. builds a realistic ``order-sign`` request (a draft inotuzumab order plus a prefetch of about
   20 FHIR resources, about 10 KB);
2. ``--profile``: times the stages of one call in-process (JWT, parsing, FHIR mapping, engine,
   cards, the jti database write) and prints a cProfile top list;
3. starts ``uvicorn`` twice with the same flags (1 worker, access log off): once a bare FastAPI app
   whose endpoint echoes the same JSON payload, once inoplan (SQLite file database, the sandbox
   key pair as trusted issuer); against each, ``wrk`` sends the same request with a fresh
   ES384 bearer token per request (pre-minted; a Lua script hands them out, because the service
   refuses a replayed ``jti``), at 4 and at 32 connections;
4. prints requests/s, p50 and p99 and the ratios, as a Markdown table for bench/README.md.

5. ``--cpu-stages``: CPU time per call of the whole application called in-process, by stage
   (steadier than the HTTP figures on a shared machine); ``--src DIR`` imports another
   version's ``src`` for a before/after comparison.

Usage::

    .venv/bin/python bench/bench_cds.py [--duration 10] [--repeat 2] [--profile | --cpu-stages]

Needs ``wrk`` (``apt-get install -y wrk``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SANDBOX = ROOT / "tests" / "interop" / "fixtures" / "cds-hooks" / "sandbox-jwk-keypair.json"
ISS = "https://sandbox.cds-hooks.org"
SERVICE = "inoplan-order-sign"
TODAY = "2027-03-08"

# -- the payload ----------------------------------------------------------------------------------

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


def _obs(
    oid: str,
    code: str,
    display: str,
    value: float,
    unit: str,
    when: str,
    high: float | None = None,
    low: float | None = None,
) -> dict[str, Any]:
    quantity = {"value": value, "unit": unit, "system": UCUM, "code": unit}
    o: dict[str, Any] = {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display},
        "subject": {"reference": "Patient/pt-4711"},
        "effectiveDateTime": when,
        "valueQuantity": quantity,
    }
    if high is not None or low is not None:
        rr: dict[str, Any] = {}
        if low is not None:
            rr["low"] = {**quantity, "value": low}
        if high is not None:
            rr["high"] = {**quantity, "value": high}
        o["referenceRange"] = [rr]
    return o


def _bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {
                "fullUrl": f"https://ehr.example.org/fhir/{r['resourceType']}/{r['id']}",
                "resource": r,
            }
            for r in resources
        ],
    }


INO = {
    "coding": [
        {
            "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
            "code": "1942950",
            "display": "inotuzumab ozogamicin",
        },
        {"system": "http://www.whocc.no/atc", "code": "L01FB01"},
    ],
    "text": "inotuzumab ozogamicin (BESPONSA) IV",
}


#: Distinct request bodies per run, cycled: more than the decision memo holds (512, least
#: recently used first out), so a cycle never finds its body in the memo and every call runs
#: the engine (issue 15: the bench measured the memo, not the engine, with one repeated body).
BODIES = 1200


def payload(variant: int = 0) -> dict[str, Any]:
    """Cycle 1 day 8 order-sign with labs from the day before (about 20 resources).

    ``variant`` changes the weight (55-104 kg), the platelet count (60-159), the ANC and the AST
    of the day before, and the hook instance: 5,000 distinct course documents, every one of
    them decidable (most ``give``; the ordered mg may then mismatch the weight's BSA, a card).
    """
    lab_day, base_day = "2027-03-07T07:30:00Z", "2027-02-28T07:30:00Z"
    weight = 55 + variant % 50
    platelets = 60 + (variant // 50) % 100
    anc = round(1.0 + (variant % 7) * 0.3, 1)
    ast = 18 + variant % 11
    order = {
        "resourceType": "MedicationRequest",
        "id": "draft-ino-8",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": INO,
        "subject": {"reference": "Patient/pt-4711"},
        "encounter": {"reference": "Encounter/enc-903"},
        "authoredOn": "2027-03-08",
        "dosageInstruction": [
            {
                "text": "0.5 mg/m2 IV over 1 hour, cycle 1 day 8",
                "timing": {"event": ["2027-03-08T09:00:00Z"]},
                "route": {"coding": [{"system": "http://snomed.info/sct", "code": "47625008"}]},
                "doseAndRate": [
                    {
                        "type": {
                            "coding": [
                                {
                                    "system": "http://epic.com/CodeSystem/dose-rate-type",
                                    "code": "ordered",
                                }
                            ]
                        },
                        "doseQuantity": {
                            "value": 0.5,
                            "unit": "mg/m2",
                            "system": UCUM,
                            "code": "mg/m2",
                        },
                    },
                    {
                        "type": {
                            "coding": [
                                {
                                    "system": "http://epic.com/CodeSystem/dose-rate-type",
                                    "code": "calculated",
                                }
                            ]
                        },
                        "doseQuantity": {"value": 1.06, "unit": "mg", "system": UCUM, "code": "mg"},
                    },
                ],
            }
        ],
    }
    given = {
        "resourceType": "MedicationAdministration",
        "id": "adm-c1d1",
        "status": "completed",
        "medicationCodeableConcept": INO,
        "subject": {"reference": "Patient/pt-4711"},
        "effectivePeriod": {"start": "2027-03-01T09:00:00Z", "end": "2027-03-01T10:00:00Z"},
        "dosage": {
            "route": {"coding": [{"system": "http://snomed.info/sct", "code": "47625008"}]},
            "dose": {"value": 1.69, "unit": "mg", "system": UCUM, "code": "mg"},
        },
    }
    prefetch = {
        "patient": {
            "resourceType": "Patient",
            "id": "pt-4711",
            "active": True,
            "gender": "male",
            "birthDate": "1962-09-03",
            "name": [{"family": "Example", "given": ["Pat"]}],
            "identifier": [{"system": "urn:oid:1.2.3.4", "value": "MRN-0004711"}],
        },
        "weight": _bundle(_obs("wt-1", "29463-7", "Body weight", weight, "kg", "2027-03-07")),
        "height": _bundle(_obs("ht-1", "8302-2", "Body height", 182, "cm", "2027-02-26")),
        "anc": _bundle(
            _obs("anc-2", "751-8", "Neutrophils", anc, "10*9/L", lab_day, 7.5, 2.0),
            _obs("anc-1", "751-8", "Neutrophils", 2.4, "10*9/L", base_day, 7.5, 2.0),
        ),
        "platelets": _bundle(
            _obs("plt-2", "777-3", "Platelets", platelets, "10*9/L", lab_day, 450, 150),
            _obs("plt-1", "777-3", "Platelets", 96, "10*9/L", base_day, 450, 150),
        ),
        "bilirubin": _bundle(
            _obs("bil-2", "1975-2", "Bilirubin total", 0.6, "mg/dL", lab_day, 1.2),
            _obs("bil-1", "1975-2", "Bilirubin total", 0.7, "mg/dL", base_day, 1.2),
        ),
        "ast": _bundle(_obs("ast-2", "1920-8", "AST", ast, "U/L", lab_day, 40)),
        "alt": _bundle(_obs("alt-2", "1742-6", "ALT", 35, "U/L", lab_day, 45)),
        "blasts": _bundle(_obs("bla-1", "30376-8", "Blasts", 3.1, "10*9/L", base_day)),
        "potassium": _bundle(_obs("k-1", "2823-3", "Potassium", 4.1, "mmol/L", lab_day, 5.1, 3.5)),
        "magnesium": _bundle(
            _obs("mg-1", "2601-3", "Magnesium", 0.85, "mmol/L", lab_day, 1.05, 0.7)
        ),
        "qtc": _bundle(_obs("qtc-1", "76634-5", "QTc Fridericia", 431, "ms", "2027-02-26")),
        "pregnancy": None,
        "administrations": _bundle(given),
        "medicationRequests": _bundle(
            {
                "resourceType": "MedicationRequest",
                "id": "mr-ondansetron",
                "status": "active",
                "intent": "order",
                "authoredOn": "2027-03-01",
                "medicationCodeableConcept": {"text": "ondansetron 8 mg PO"},
                "subject": {"reference": "Patient/pt-4711"},
            }
        ),
        "medicationStatements": None,
        "allergies": _bundle(
            {
                "resourceType": "AllergyIntolerance",
                "id": "al-1",
                "code": {"text": "penicillin"},
                "patient": {"reference": "Patient/pt-4711"},
            }
        ),
        "conditions": _bundle(
            {
                "resourceType": "Condition",
                "id": "cond-all",
                "code": {
                    "coding": [{"system": "http://snomed.info/sct", "code": "277571004"}],
                    "text": "B-cell acute lymphoblastic leukaemia",
                },
                "subject": {"reference": "Patient/pt-4711"},
            }
        ),
    }
    return {
        "hook": "order-sign",
        "hookInstance": str(uuid.UUID(int=variant + 1)),
        "context": {
            "userId": "Practitioner/onc-22",
            "patientId": "pt-4711",
            "encounterId": "enc-903",
            "draftOrders": {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": order}],
            },
        },
        "prefetch": prefetch,
    }


def count_resources(body: dict[str, Any]) -> int:
    from inoplan.interop.fhir_in import resources_of

    return len(resources_of(*(body["prefetch"] or {}).values(), body["context"]["draftOrders"]))


# -- tokens ---------------------------------------------------------------------------------------


def mint_tokens(n: int, aud: str, lifetime: int = 900) -> list[str]:
    import jwt

    jwk = json.loads(SANDBOX.read_text())["keys"][0]
    key = jwt.PyJWK.from_dict(jwk).key
    now = int(time.time())
    header = {"kid": jwk["kid"], "typ": "JWT"}
    return [
        jwt.encode(
            {"iss": ISS, "aud": aud, "iat": now, "exp": now + lifetime, "jti": uuid.uuid4().hex},
            key,
            algorithm="ES384",
            headers=header,
        )
        for _ in range(n)
    ]


# -- in-process profile ---------------------------------------------------------------------------


def profile(body: dict[str, Any]) -> None:
    import cProfile
    import pstats
    from datetime import date

    from inoplan.interop.cds import CdsRequest, handle_call
    from inoplan.interop.security import CdsTokenVerifier, TrustedIssuer
    from inoplan.services.courses import decide_document

    aud = f"http://127.0.0.1/cds-services/{SERVICE}"
    tokens = mint_tokens(300, aud)
    public = {
        "keys": [{k: v for k, v in json.loads(SANDBOX.read_text())["keys"][0].items() if k != "d"}]
    }

    class _NoReplayCheck:  # the replay store is timed on its own below
        def remember(self, iss: str, jti: str, expires_at: Any) -> bool:
            return True

    verifier = CdsTokenVerifier([TrustedIssuer(iss=ISS, jwks=public)], _NoReplayCheck())
    raw = json.dumps(body).encode()
    today = date.fromisoformat(TODAY)

    def once(token: str) -> None:
        verifier.verify(token, aud)
        call = CdsRequest.model_validate(json.loads(raw))
        handle_call(SERVICE, call, today=today, decide=decide_document)

    for token in tokens[:50]:
        once(token)  # warm caches
    stages: dict[str, float] = {}
    n = 200
    t0 = time.perf_counter()
    for token in tokens[50:250]:
        verifier.verify(token, aud)
    stages["JWT verify (ES384)"] = (time.perf_counter() - t0) / n
    from inoplan.api.cds_hooks import _request  # the route's own reading of the body

    t0 = time.perf_counter()
    for _ in range(n):
        _request(CdsRequest, raw)
    stages["JSON + request model"] = (time.perf_counter() - t0) / n
    call = CdsRequest.model_validate(json.loads(raw))
    calls = [CdsRequest.model_validate(payload(i)) for i in range(n)]  # distinct inputs
    t0 = time.perf_counter()
    for each in calls:
        handle_call(SERVICE, each, today=today, decide=decide_document)
    stages["mapping + engine + cards (distinct requests)"] = (time.perf_counter() - t0) / n
    from inoplan.interop.memo import DecisionMemo

    memo = DecisionMemo(decide_document)
    t0 = time.perf_counter()
    for _ in range(n):
        handle_call(SERVICE, call, today=today, decide=memo)
    stages["mapping + cards, decision from the memo (identical inputs)"] = (
        time.perf_counter() - t0
    ) / n
    from inoplan.interop.fhir_in import bundle_to_document

    t0 = time.perf_counter()
    for _ in range(n):
        bundle_to_document(*body["prefetch"].values(), patient_id="pt-4711", start_date=today)
    stages["  of which FHIR -> course document"] = (time.perf_counter() - t0) / n
    document = bundle_to_document(
        *body["prefetch"].values(), patient_id="pt-4711", start_date=today
    ).document
    t0 = time.perf_counter()
    for _ in range(n):
        decide_document(document, today)
    stages["  of which decision engine"] = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    from fhir.resources.R4B.bundle import Bundle  # what full model validation would cost

    for _ in range(20):
        for value in body["prefetch"].values():
            if isinstance(value, dict) and value.get("resourceType") == "Bundle":
                Bundle.model_validate(value)
    stages["(not on the hot path) fhir.resources validation of the prefetch"] = (
        time.perf_counter() - t0
    ) / 20
    with tempfile.TemporaryDirectory() as tmp:
        from datetime import UTC, datetime, timedelta

        from inoplan.bootstrap import Database
        from inoplan.config import Settings

        database = Database(Settings(database_url=f"sqlite:///{tmp}/jti.db"))
        database.upgrade()
        expires = datetime.now(UTC) + timedelta(minutes=5)
        store = database.replay
        t0 = time.perf_counter()
        for i in range(n):
            store.remember(ISS, f"jti-{i}", expires)
        stages["jti insert, the replay store (one INSERT ... ON CONFLICT, SQLite)"] = (
            time.perf_counter() - t0
        ) / n
        database.dispose()
    print("\nStage timings (mean per call, ms):")
    for name, seconds in stages.items():
        print(f"  {name:<72} {seconds * 1000:7.2f}")
    profiler = cProfile.Profile()
    profiler.enable()
    for token in tokens[250:300]:
        once(token)
    profiler.disable()
    print("\ncProfile, 50 calls, top 15 by cumulative time:")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(15)


# -- CPU per call in-process, by stage -------------------------------------------------------------


def cpu_stages(calls: int = 300) -> None:
    """CPU time per call of the whole ASGI application called in-process (no sockets, no client
    on the cores), by stage: distinct bodies and fresh tokens, SQLite replay store, the route's
    thread work run inline so that ``time.process_time`` can be taken around each stage.
    Steadier than the HTTP figures on a shared machine. ``--src DIR`` measures another version's
    ``src`` (an export of an older commit) with the same script."""
    import asyncio
    import collections
    import functools
    from datetime import date

    import starlette.concurrency

    import inoplan.api.cds_hooks as hooks
    import inoplan.interop.cds as cds
    import inoplan.interop.memo as memo
    import inoplan.interop.security as security
    import inoplan.persistence.replay as replay
    import inoplan.services.courses as courses
    from inoplan.api.app import create_app
    from inoplan.bootstrap import Database
    from inoplan.config import Settings

    spent: collections.Counter[str] = collections.Counter()

    def timed(owner: Any, name: str, label: str) -> None:
        function = getattr(owner, name, None)
        if function is None:  # an older version without this stage
            return

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                spent[label] += time.process_time() - started

        setattr(owner, name, wrapper)

    timed(replay.SqlReplayStore, "remember", "replay store (jti insert)")
    timed(security.CdsTokenVerifier, "verify", "bearer token incl. the replay store")
    timed(hooks, "_request", "body: JSON + request model")
    timed(cds.CdsRequest, "model_validate_json", "body: JSON + request model")
    timed(cds, "bundle_to_document", "FHIR prefetch -> course document")
    timed(courses, "decide_document", "decision engine (decide_document)")
    timed(memo.DecisionMemo, "__call__", "decision memo incl. the engine")
    timed(cds, "decision_cards", "cards")
    timed(cds, "handle_call", "handle_call (mapping, engine, cards)")
    timed(hooks, "_call", "the route's thread work")

    async def inline(function: Any, *args: Any, **kwargs: Any) -> Any:
        return function(*args, **kwargs)

    starlette.concurrency.run_in_threadpool = inline  # type: ignore[assignment]
    with tempfile.TemporaryDirectory(prefix="bench-cds-cpu-") as tmp:
        work = Path(tmp)
        public = {
            "keys": [
                {k: v for k, v in json.loads(SANDBOX.read_text())["keys"][0].items() if k != "d"}
            ]
        }
        (work / "sandbox.json").write_text(json.dumps(public))
        (work / "issuers.toml").write_text(
            f'[[issuer]]\niss = "{ISS}"\njwks_file = "sandbox.json"\nmax_lifetime_s = 900\n'
        )
        base = "http://127.0.0.1:9"
        settings = Settings(
            database_url=f"sqlite:///{work / 'cpu.db'}",
            cds_issuers=work / "issuers.toml",
            public_url=base,
        )
        database = Database(settings)
        database.upgrade()
        database.dispose()
        app = create_app(settings)
        app.state.cds_today = lambda: date.fromisoformat(TODAY)
        path = f"/cds-services/{SERVICE}"
        warm = 50
        tokens = mint_tokens(warm + calls, base + path)
        bodies = [json.dumps(payload(i)).encode() for i in range(warm + calls)]

        async def one(token: str, body: bytes) -> None:
            scope = {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "POST",
                "scheme": "http",
                "path": path,
                "raw_path": path.encode(),
                "query_string": b"",
                "root_path": "",
                "client": ("127.0.0.1", 50000),
                "server": ("127.0.0.1", 9),
                "headers": [
                    (b"host", b"127.0.0.1:9"),
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"authorization", f"Bearer {token}".encode()),
                ],
            }
            messages = [{"type": "http.request", "body": body, "more_body": False}]
            status: list[int] = []

            async def receive() -> dict[str, Any]:
                if messages:
                    return messages.pop()
                await asyncio.sleep(3600)
                return {"type": "http.disconnect"}

            async def send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    status.append(message["status"])

            await app(scope, receive, send)
            if status != [200]:
                raise SystemExit(f"CDS call answered {status}")

        async def run() -> float:
            for i in range(warm):
                await one(tokens[i], bodies[i])
            spent.clear()
            started = time.process_time()
            for i in range(warm, warm + calls):
                await one(tokens[i], bodies[i])
            return (time.process_time() - started) / calls

        total = asyncio.run(run())
    inoplan_src = Path(hooks.__file__).parents[2]
    print(f"\nCPU per call, in-process, {calls} distinct calls ({inoplan_src}):")
    print(f"  {'whole call (ASGI application)':<52} {total * 1000:6.2f} ms  100.0%")
    for label, seconds in sorted(spent.items(), key=lambda item: -item[1]):
        share = seconds / calls / total
        print(f"  {label:<52} {seconds / calls * 1000:6.2f} ms  {share:6.1%}")
    print("  (stages nest: the route's work holds the token, the body and handle_call; the memo")
    print("  holds the engine; the rest of the whole call is the framework outside the route)")


# -- servers and wrk ------------------------------------------------------------------------------

ECHO_APP = textwrap.dedent("""
    from typing import Annotated, Any
    from fastapi import Body, FastAPI
    from fastapi.responses import JSONResponse

    app = FastAPI()

    @app.post("/cds-services/{service_id}")
    def echo(service_id: str, body: Annotated[dict[str, Any], Body()]) -> JSONResponse:
        return JSONResponse(body)
""")

INOPLAN_APP = textwrap.dedent("""
    import datetime, os
    from pathlib import Path
    from inoplan.api.app import create_app
    from inoplan.config import Settings

    settings = Settings(database_url=os.environ["BENCH_DB"],
                        cds_issuers=Path(os.environ["BENCH_ISSUERS"]),
                        public_url=os.environ["BENCH_PUBLIC_URL"])
    app = create_app(settings)
    app.state.cds_today = lambda: datetime.date.fromisoformat(os.environ["BENCH_TODAY"])
""")

LUA = textwrap.dedent("""
    -- hands out a fresh bearer token per request (the service refuses a replayed jti)
    local counter = 0
    local threads = {}
    function setup(thread)
      thread:set("id", counter)
      counter = counter + 1
      table.insert(threads, thread)
    end
    function init(args)
      tokens = {}
      for line in io.lines(os.getenv("BENCH_TOKENS")) do tokens[#tokens + 1] = line end
      bodies = {}  -- one JSON body per line, cycled with the tokens
      for line in io.lines(os.getenv("BENCH_BODY")) do bodies[#bodies + 1] = line end
      stride = tonumber(os.getenv("BENCH_THREADS"))
      offset = tonumber(os.getenv("BENCH_OFFSET"))
      i = offset + id + 1
      path = os.getenv("BENCH_PATH")
      unauthorized = 0
    end
    function request()
      local token = tokens[i]
      local body = bodies[(i % #bodies) + 1]
      i = i + stride
      if i > #tokens then i = id + 1 end  -- wrapped: replays show up as non-200
      return wrk.format("POST", path, {["Content-Type"] = "application/json",
                                       ["Authorization"] = "Bearer " .. token}, body)
    end
    function response(status, headers, body)
      if status ~= 200 then unauthorized = unauthorized + 1 end
    end
    function done(summary, latency, requests)
      for _, t in ipairs(threads) do
        local n = t:get("unauthorized")
        if n and n > 0 then io.write(string.format("NON200 %d\\n", n)) end
      end
      io.write(string.format("P50 %d\\nP99 %d\\nREQS %d\\nERRS %d\\n", latency:percentile(50),
        latency:percentile(99), summary.requests,
        summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status
        + summary.errors.timeout))
    end
""")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not start")


MAX_RATE = 1500  # requests/s the service could possibly reach here (sizes the token supply)
UVICORN_FLAGS = ["--workers", "1", "--no-access-log", "--log-level", "warning"]


def start(app_dir: Path, module: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        f"{module}:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--app-dir",
        str(app_dir),
        *UVICORN_FLAGS,
    ]
    process = subprocess.Popen(command, env={**os.environ, **env}, start_new_session=True)
    wait_up(port)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)  # our own process group only
        process.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(
    port: int,
    connections: int,
    duration: int,
    work: Path,
    tokens: Path,
    offset: int = 0,
    pid: int | None = None,
) -> dict[str, float]:
    threads = min(2, connections)
    env = {
        **os.environ,
        "BENCH_TOKENS": str(tokens),
        "BENCH_BODY": str(work / "body.json"),
        "BENCH_THREADS": str(threads),
        "BENCH_PATH": f"/cds-services/{SERVICE}",
        "BENCH_OFFSET": str(offset),
    }
    command = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{duration}s",
        "--timeout",
        "5s",
        "-s",
        str(work / "tokens.lua"),
        f"http://127.0.0.1:{port}",
    ]
    cpu_before = cpu_seconds(pid) if pid else 0.0
    out = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=duration + 60, check=True
    ).stdout
    cpu_used = (cpu_seconds(pid) - cpu_before) if pid else 0.0
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    numbers = dict(re.findall(r"^(P50|P99|REQS|ERRS|NON200) (\d+)$", out, re.M))
    requests = int(numbers["REQS"])
    return {
        "rps": rps,
        "p50_ms": int(numbers["P50"]) / 1000,
        "p99_ms": int(numbers["P99"]) / 1000,
        "requests": requests,
        "errors": int(numbers.get("ERRS", 0)),
        "non200": int(numbers.get("NON200", 0)),
        "cpu_ms_per_request": round(cpu_used * 1000 / max(requests, 1), 3),
    }


Results = list[
    dict[str, dict[int, dict[str, float]]]
]  # per repetition: endpoint -> clients -> numbers


def load_test(duration: int, bodies: list[dict[str, Any]], repeat: int) -> Results:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install -y wrk")
    results: Results = []
    with tempfile.TemporaryDirectory(prefix="bench-cds-") as tmp:
        work = Path(tmp)
        (work / "body.json").write_text("".join(json.dumps(b) + "\n" for b in bodies))
        (work / "tokens.lua").write_text(LUA)
        (work / "echo_app.py").write_text(ECHO_APP)
        (work / "inoplan_app.py").write_text(INOPLAN_APP)
        public = {
            "keys": [
                {k: v for k, v in json.loads(SANDBOX.read_text())["keys"][0].items() if k != "d"}
            ]
        }
        (work / "sandbox.json").write_text(json.dumps(public))
        (work / "issuers.toml").write_text(
            f'[[issuer]]\niss = "{ISS}"\njwks_file = "sandbox.json"\nmax_lifetime_s = 900\n'
        )
        env = {
            "BENCH_DB": f"sqlite:///{work / 'bench.db'}",
            "BENCH_ISSUERS": str(work / "issuers.toml"),
            "BENCH_TODAY": TODAY,
        }
        ports = {"echo": free_port(), "inoplan": free_port()}
        env["BENCH_PUBLIC_URL"] = f"http://127.0.0.1:{ports['inoplan']}"
        aud = f"{env['BENCH_PUBLIC_URL']}/cds-services/{SERVICE}"
        per_run = MAX_RATE * duration  # tokens one run can use up; never reused within a server
        runs = 1 + 2 * repeat
        print(f"minting {per_run * runs} ES384 tokens ...", flush=True)
        tokens = work / "tokens.txt"
        tokens.write_text("\n".join(mint_tokens(per_run * runs, aud)) + "\n")
        # the echo ignores the token; it gets the same request bytes for a fair comparison
        processes = {name: start(work, f"{name}_app", ports[name], env) for name in ports}
        try:
            for name in ports:
                run_wrk(ports[name], 4, min(2, duration), work, tokens, offset=0)  # warm-up
            offset = per_run
            for rep in range(repeat):  # alternate, so both see the same machine conditions
                results.append({})
                for name in ports:
                    results[rep][name] = {}
                    for connections in (4, 32):
                        results[rep][name][connections] = run_wrk(
                            ports[name],
                            connections,
                            duration,
                            work,
                            tokens,
                            offset=offset if name == "inoplan" else 0,
                            pid=processes[name].pid,
                        )
                        if name == "inoplan":
                            offset += per_run
                        print(rep, name, connections, results[rep][name][connections], flush=True)
        finally:
            for process in processes.values():
                stop(process)
    return results


def ratios(results: Results) -> dict[str, float]:
    """Medians over the runs (each run compares inoplan with the echo measured beside it)."""
    import statistics

    def med(values: list[float]) -> float:
        return statistics.median(values)

    return {
        "throughput_32": med([r["inoplan"][32]["rps"] / r["echo"][32]["rps"] for r in results]),
        "p99_32": med([r["inoplan"][32]["p99_ms"] / r["echo"][32]["p99_ms"] for r in results]),
        "p99_4": med([r["inoplan"][4]["p99_ms"] / r["echo"][4]["p99_ms"] for r in results]),
        "cpu_32": med(
            [
                r["inoplan"][32]["cpu_ms_per_request"]
                / max(r["echo"][32]["cpu_ms_per_request"], 1e-9)
                for r in results
            ]
        ),
    }


def markdown(results: Results, size: int, resources: int, duration: int, load: str) -> str:
    rows = [
        "| run | endpoint | req/s @32 | p50 @4 (ms) | p99 @4 (ms) | p50 @32 (ms) | p99 @32 (ms) "
        "| server CPU ms/request @32 | non-200 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rep, result in enumerate(results, start=1):
        for name, label in (("echo", "bare FastAPI echo"), ("inoplan", "inoplan order-sign")):
            r = result[name]
            rows.append(
                f"| {rep} | {label} | {r[32]['rps']:.0f} | {r[4]['p50_ms']:.2f} | "
                f"{r[4]['p99_ms']:.2f} | {r[32]['p50_ms']:.2f} | {r[32]['p99_ms']:.2f} | "
                f"{r[32]['cpu_ms_per_request']:.2f} | "
                f"{int(r[4]['non200'] + r[32]['non200'] + r[4]['errors'] + r[32]['errors'])} |"
            )
    q = ratios(results)
    throughput = "met" if q["throughput_32"] >= 0.5 else "not met"
    latency = "met" if q["p99_32"] <= 1.5 else "not met"
    rows += [
        "",
        f"Medians over {len(results)} runs, inoplan against the echo of the same run, 32 clients: "
        f"**throughput {q['throughput_32']:.0%}** of the echo's (target >= 50 %: {throughput}); "
        f"**p99 {q['p99_32']:.2f}x** the echo's (target <= 1.5x: {latency}); p99 at 4 clients "
        f"{q['p99_4']:.2f}x; server CPU per request {q['cpu_32']:.1f}x the echo's. "
        f"{BODIES} distinct bodies cycled (payload {size / 1024:.1f} KB, {resources} FHIR "
        f"resources); {duration} s per run; uvicorn {' '.join(UVICORN_FLAGS)}; wrk 2 threads, a "
        f"fresh ES384 token per request. Load average (1, 5, 15 min): {load}.",
    ]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per load run")
    parser.add_argument("--profile", action="store_true", help="in-process stage timings only")
    parser.add_argument("--repeat", type=int, default=3, help="alternating repetitions")
    parser.add_argument(
        "--cpu-stages", action="store_true", help="CPU per call in-process, by stage, only"
    )
    parser.add_argument("--src", type=Path, help="import inoplan from this src (another version)")
    args = parser.parse_args()
    if args.src is not None:
        sys.path.insert(0, str(args.src.resolve()))
    body = payload()
    raw = json.dumps(body)
    print(f"payload: {len(raw)} bytes, {count_resources(body)} FHIR resources")
    if args.profile:
        profile(body)
        return
    if args.cpu_stages:
        cpu_stages()
        return
    bodies = [payload(i) for i in range(BODIES)]
    start_load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    results = load_test(args.duration, bodies, args.repeat)
    end_load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print()
    print(
        markdown(
            results,
            len(raw),
            count_resources(body),
            args.duration,
            f"{start_load} at the start, {end_load} at the end",
        )
    )
    print("ratios (inoplan / echo, medians):", {k: round(v, 2) for k, v in ratios(results).items()})


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
