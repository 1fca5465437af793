"""Records benchmark: event writes per second and decision latency through the real service.

Starts ``inoplan serve`` as a subprocess (SQLite file, or a fresh schema on PostgreSQL), then:

1. **writes**: 8 concurrent writers, each appending vitals events to its own course over HTTP
   (``POST /api/v1/courses/{id}/events`` with ``If-Match``) for ``--duration`` seconds;
   reports acknowledged events per second and write latency percentiles, each against an
   anchor measured in the same run (``--runs`` interleaved runs, medians compared):

   * SQLite: **FastAPI + one durable SQLite insert** -- a minimal FastAPI app under the same
     Uvicorn, one ``INSERT`` and ``COMMIT`` per request (WAL, ``synchronous=FULL``, as inoplan),
     driven by the same 8 writers over HTTP;
   * PostgreSQL: **raw PostgreSQL commits** -- 8 threads, each with its own psycopg connection,
     ``INSERT`` one row and ``COMMIT`` in a loop (no HTTP, no application).
2. **decision**: 16 concurrent clients calling ``GET /api/v1/courses/{id}/decision?on=...`` on
   the four demo courses for ``--duration`` seconds (each call computes the decision and records
   it with its audit record); reports p50/p99 latency and requests per second.

Usage::

    .venv/bin/python bench/bench_records.py --backend both --duration 20
    .venv/bin/python bench/bench_records.py --backend postgres --workers 2
    .venv/bin/python bench/bench_records.py --backend both --writes-only --runs 3 --duration 8

PostgreSQL comes from ``INOPLAN_TEST_POSTGRES_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``); the benchmark uses its own schema and
drops it afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

#: Fixed keys that pass the production strength check (benchmark only).
SECRET = "Hq7wT2nV9xK4pL8mR3cZ6yB1dF5gJ0sA2uE9iO4kW7tN3vQ"
AUDIT_KEY = "Mv4Xe8Rk2Lp6Tz9Bn3Hq7Wc1Yd5Fs0Gj8Ua2Io6Ek4Ot9Pn"
TODAY = date(2026, 12, 1)
WRITERS = 8
DECISION_CLIENTS = 16


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def _prepare(url: str) -> str:
    from inoplan.bootstrap import Database
    from inoplan.config import Settings
    from inoplan.services.auth import issue_token

    os.environ["INOPLAN_AUDIT_KEY"] = AUDIT_KEY  # read by Settings (older versions ignore it)
    database = Database(
        Settings(database_url=url, secret_key=SecretStr(SECRET), environment="production")
    )
    database.upgrade()
    with database.uow(write=True) as uow:
        from inoplan.services.auth import hash_password

        uow.users.add(
            username="bench",
            password_hash=hash_password("bench-password"),
            role="admin",
            at=datetime.now(UTC),
        )
        uow.commit()
    database.dispose()

    class Who:
        username = "bench"
        role = "admin"

    return issue_token(Who(), secret=SECRET, minutes=120)[0]


def _serve(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INOPLAN_")}
    env.update(
        INOPLAN_DATABASE_URL=url,
        INOPLAN_SECRET_KEY=SECRET,
        INOPLAN_AUDIT_KEY=AUDIT_KEY,
        INOPLAN_ENVIRONMENT="production",
        INOPLAN_LOG_LEVEL="WARNING",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "inoplan", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("server did not start")


def _cpu_seconds(root: int) -> float:
    """CPU time (user + system) of a process and all its descendants (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parent[pid] = int(fields[1])
        cpu[pid] = (int(fields[11]) + int(fields[12])) / ticks
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        total += cpu.get(pid, 0.0)
        stack.extend(child for child, ppid in parent.items() if ppid == pid)
    return total


def _documents() -> list[dict[str, Any]]:
    from inoplan.demo import demo_documents

    return demo_documents(TODAY)


def bench_writes(base: str, token: str, duration: float, server_pid: int) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {token}"}
    documents = _documents()
    with httpx.Client(base_url=base, headers=auth, timeout=60) as http:
        ids = []
        for w in range(WRITERS):
            document = documents[w % 4]
            document = {
                **document,
                "patient": {**document["patient"], "id": f"BW-{uuid.uuid4().hex[:8]}"},
            }
            ids.append(http.post("/courses", json=document).json()["id"])
    latencies: list[float] = []
    acknowledged = [0]
    lock = threading.Lock()
    cpu_before = _cpu_seconds(server_pid)
    start = time.perf_counter()
    end = start + duration

    def writer(w: int) -> None:
        version = 1
        n = 0
        with httpx.Client(base_url=base, headers=auth, timeout=60) as http:
            while time.perf_counter() < end:
                event = {
                    "id": f"b{w}-{n}",
                    "date": "2026-11-29",
                    "type": "vitals",
                    "weight_kg": 70 + n % 10,
                }
                t0 = time.perf_counter()
                response = http.post(
                    f"/courses/{ids[w]}/events", json=event, headers={"If-Match": str(version)}
                )
                elapsed = time.perf_counter() - t0
                if response.status_code != 201:
                    raise RuntimeError(response.text)
                version = response.json()["version"]
                n += 1
                with lock:
                    latencies.append(elapsed)
                    acknowledged[0] += 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    cpu = _cpu_seconds(server_pid) - cpu_before
    return {
        "server_cpu_ms_per_event": round(1000 * cpu / max(1, acknowledged[0]), 1),
        "writers": WRITERS,
        "seconds": round(wall, 1),
        "events": acknowledged[0],
        "events_per_s": round(acknowledged[0] / wall, 1),
        "events_per_course_at_end": round(acknowledged[0] / WRITERS + 8),
        "p50_ms": round(1000 * _percentile(latencies, 50), 1),
        "p99_ms": round(1000 * _percentile(latencies, 99), 1),
    }


def bench_decisions(base: str, token: str, duration: float, server_pid: int) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=auth, timeout=60) as http:
        ids = [
            http.post(
                "/courses",
                json={**d, "patient": {**d["patient"], "id": f"BD-{uuid.uuid4().hex[:8]}"}},
            ).json()["id"]
            for d in _documents()
        ]
    latencies: list[float] = []
    lock = threading.Lock()
    cpu_before = _cpu_seconds(server_pid)
    start = time.perf_counter()
    end = start + duration

    def client(c: int) -> None:
        with httpx.Client(base_url=base, headers=auth, timeout=60) as http:
            n = 0
            while time.perf_counter() < end:
                t0 = time.perf_counter()
                response = http.get(
                    f"/courses/{ids[(c + n) % len(ids)]}/decision", params={"on": TODAY.isoformat()}
                )
                elapsed = time.perf_counter() - t0
                if response.status_code != 200:
                    raise RuntimeError(response.text)
                n += 1
                with lock:
                    latencies.append(elapsed)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(DECISION_CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    cpu = _cpu_seconds(server_pid) - cpu_before
    return {
        "server_cpu_ms_per_request": round(1000 * cpu / max(1, len(latencies)), 1),
        "clients": DECISION_CLIENTS,
        "seconds": round(wall, 1),
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / wall, 1),
        "p50_ms": round(1000 * _percentile(latencies, 50), 1),
        "p99_ms": round(1000 * _percentile(latencies, 99), 1),
        "mean_ms": round(1000 * statistics.fmean(latencies), 1),
    }


def _serve_anchor(folder: str, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INOPLAN_")}
    env["ANCHOR_DB"] = str(Path(folder) / f"anchor-{uuid.uuid4().hex[:6]}.db")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "anchor_app:app",
            "--app-dir",
            str(Path(__file__).parent),
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.post(f"http://127.0.0.1:{port}/streams/warmup/events", json={}, timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("anchor server did not start")


def anchor_sqlite_writes(port: int, duration: float) -> float:
    """FastAPI + one durable SQLite insert: acknowledged writes/s with 8 HTTP writers."""
    done = [0]
    lock = threading.Lock()
    end = time.perf_counter() + duration
    run_id = uuid.uuid4().hex[:6]

    def writer(w: int) -> None:
        n = 0
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            while time.perf_counter() < end:
                event = {"id": f"b{w}-{n}", "date": "2026-11-29", "type": "vitals"}
                response = http.post(f"/streams/{run_id}-{w}/events", json=event)
                if response.status_code != 201:
                    raise RuntimeError(response.text)
                n += 1
                with lock:
                    done[0] += 1

    start = time.perf_counter()
    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done[0] / (time.perf_counter() - start)


def anchor_postgres_commits(dsn: str, schema: str, duration: float) -> float:
    """Raw PostgreSQL commits: 8 threads, each INSERT one row + COMMIT in a loop (per s)."""
    import psycopg

    table = f'"{schema}".anchor_{uuid.uuid4().hex[:6]}'
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (id bigserial PRIMARY KEY, stream int, data jsonb)")
    done = [0]
    lock = threading.Lock()
    end = time.perf_counter() + duration

    def writer(w: int) -> None:
        with psycopg.connect(dsn) as conn:
            while time.perf_counter() < end:
                conn.execute(
                    f"INSERT INTO {table} (stream, data) VALUES (%s, %s)",
                    (w, json.dumps({"type": "vitals", "weight_kg": 70})),
                )
                conn.commit()
                with lock:
                    done[0] += 1

    start = time.perf_counter()
    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done[0] / (time.perf_counter() - start)


def in_process_cpu(appends: int = 60, grown_to: int = 150) -> dict[str, Any]:
    """CPU milliseconds per ``records.append_event`` in this process (SQLite file, no HTTP),
    on a demo course grown to ``grown_to`` events: the service's own cost of one write, less
    sensitive to other load on the machine than wall-clock rates. Median of 3 passes."""
    from inoplan.bootstrap import Database
    from inoplan.config import Settings
    from inoplan.services import records

    folder = tempfile.mkdtemp(prefix="inoplan-bench-cpu-")
    os.environ["INOPLAN_AUDIT_KEY"] = AUDIT_KEY
    database = Database(
        Settings(
            database_url=f"sqlite:///{folder}/cpu.db",
            secret_key=SecretStr(SECRET),
            environment="production",
        )
    )
    database.upgrade()
    document = _documents()[0]
    ref = records.create_course(database, document, actor="bench")
    version = 1
    now = datetime.now(UTC)
    n = 0

    def append(count: int) -> float:
        nonlocal version, n
        start = time.process_time()
        for _ in range(count):
            event = {"id": f"c{n}", "date": "2026-11-29", "type": "vitals", "weight_kg": 70 + n % 9}
            version = records.append_event(
                database, ref.id, event, expected_version=version, actor="b", role="admin", now=now
            ).version
            n += 1
        return 1000 * (time.process_time() - start) / count

    append(max(1, grown_to - len(document["events"])))
    passes = [append(appends // 3) for _ in range(3)]
    database.dispose()
    return {"events_per_course": grown_to, "cpu_ms_per_append": round(statistics.median(passes), 1)}


def run(
    backend: str, duration: float, workers: int, *, runs: int = 1, writes_only: bool = False
) -> dict[str, Any]:
    cleanup = None
    folder = tempfile.mkdtemp(prefix="inoplan-bench-")
    schema = ""
    dsn = ""
    if backend == "sqlite":
        url = f"sqlite:///{folder}/bench.db"
        workers = 1
    else:
        import psycopg

        base_url = os.environ.get(
            "INOPLAN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        )
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        dsn = base_url.replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        url = f"{base_url}?options={quote(f'-csearch_path={schema}')}"

        def cleanup() -> None:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')

    token = _prepare(url)
    port = _free_port()
    server = _serve(url, port, workers)
    anchor = _serve_anchor(folder, _anchor_port := _free_port()) if backend == "sqlite" else None
    base = f"http://127.0.0.1:{port}/api/v1"
    samples: list[dict[str, Any]] = []
    anchors: list[float] = []
    result: dict[str, Any] = {"backend": backend, "server_workers": workers}
    try:
        for _ in range(runs):  # interleaved: anchor, then inoplan, each run on fresh courses
            if backend == "sqlite":
                anchors.append(anchor_sqlite_writes(_anchor_port, duration))
            else:
                anchors.append(anchor_postgres_commits(dsn, schema, duration))
            samples.append(bench_writes(base, token, duration, server.pid))
        if not writes_only:
            result["decision"] = bench_decisions(base, token, duration, server.pid)
    finally:
        for process in (server, anchor):
            if process is not None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)
        if cleanup:
            cleanup()
    rates = [s["events_per_s"] for s in samples]
    median_rate = statistics.median(rates)
    median_anchor = statistics.median(anchors)
    result["writes"] = min(samples, key=lambda s: abs(s["events_per_s"] - median_rate))
    result["writes_runs"] = rates
    result["anchor"] = {
        "name": "FastAPI + one durable SQLite insert"
        if backend == "sqlite"
        else "raw PostgreSQL commits",
        "per_s_runs": [round(a, 1) for a in anchors],
        "per_s": round(median_anchor, 1),
    }
    result["ratio_writes_to_anchor"] = round(median_rate / median_anchor, 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per measurement")
    parser.add_argument("--workers", type=int, default=2, help="server workers on PostgreSQL")
    parser.add_argument("--runs", type=int, default=3, help="interleaved write runs (median)")
    parser.add_argument("--writes-only", action="store_true", help="skip the decision part")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--cpu-only", action="store_true", help="only the in-process CPU per append"
    )
    args = parser.parse_args()
    if args.cpu_only:
        print(json.dumps({"load_average": os.getloadavg(), **in_process_cpu()}))
        return
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results = {
        "measured": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "load_average_before": os.getloadavg(),
        "runs": [
            run(b, args.duration, args.workers, runs=args.runs, writes_only=args.writes_only)
            for b in backends
        ],
        "load_average_after": os.getloadavg(),
    }
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
