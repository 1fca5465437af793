"""Scale-out benchmark (issue 15 item 6): 1, 2 and 4 Uvicorn workers on one PostgreSQL.

For each number of workers (``--workers 1 2 4``) the real application runs under
``uvicorn --workers N`` (one process per worker, loopback, access log off) on a database of its
own (``today_bench``, created and dropped), and two loads are sent, ``--duration`` seconds each:

1. **event writes**: ``--writers`` client threads (HTTPX), each appending vitals events to its own
   course (``POST /api/v1/courses/{id}/events`` with ``If-Match``): distinct courses, so any
   waiting is on what the writes share (the audit chain, the pool, the WAL), not on each other;
2. **CDS order-sign**: ``wrk`` with ``--connections`` connections, each request with a fresh
   ES384 token (the service refuses a replayed ``jti``) and its own body weight (the engine's
   memo never answers: every call is decided).

Measured per load: requests per second, p50/p99, **server CPU per request** (the Uvicorn process
tree, /proc), **PostgreSQL CPU per request** (the backends serving the database, /proc), and where
the backends' time goes, from sampling ``pg_stat_activity`` every 20 ms: the share of samples of
active backends waiting on a **lock** (``wait_event_type = 'Lock'``: row, transaction and tuple
locks), on an LWLock, on I/O (WAL flush at commit), or running; and idle-in-transaction samples
(a worker computing while its transaction is open). On a 2-core machine with the clients on the
same cores, throughput cannot grow with workers once the cores are busy: the CPU per request and
the lock-wait share say whether it would on more cores.

Usage::

    .venv/bin/python bench/bench_scaleout.py [--workers 1 2 4] [--duration 10] [--markdown]

PostgreSQL: ``INOPLAN_TEST_POSTGRES_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``)
names the server; the benchmark creates its own database next to it and drops it afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_cds import ISS, SANDBOX, SERVICE, TODAY, free_port, mint_tokens, payload  # noqa: E402

SECRET = "Zq3v9Lw2Tn8Xb4Rm6Yc1Hp5Kd7Fg0Js2Qa9Wu3Ee8Oi4Ly6Vt-scaleout"
DATABASE = "today_bench"
MAX_RATE = 400  # CDS calls/s any run could reach here (sizes the token supply)

APP = textwrap.dedent("""
    import datetime, os
    from pathlib import Path
    from inoplan.api.app import create_app
    from inoplan.config import Settings

    settings = Settings(database_url=os.environ["BENCH_DB"], secret_key=os.environ["BENCH_SECRET"],
                        cds_issuers=Path(os.environ["BENCH_ISSUERS"]),
                        public_url=os.environ["BENCH_PUBLIC_URL"], environment="production",
                        audit_key=os.environ["BENCH_AUDIT_KEY"],
                        log_level="WARNING")
    app = create_app(settings, migrate=False)
    app.state.cds_today = lambda: datetime.date.fromisoformat(os.environ["BENCH_TODAY"])
""")

LUA = textwrap.dedent("""
    -- a fresh bearer token and a distinct body weight per request
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
      local f = io.open(os.getenv("BENCH_BODY"), "rb"); body = f:read("*a"); f:close()
      stride = tonumber(os.getenv("BENCH_THREADS"))
      i = tonumber(os.getenv("BENCH_OFFSET")) + id + 1
      path = os.getenv("BENCH_PATH")
      bad = 0
    end
    function request()
      local token = tokens[i]
      local weight = string.format("%.3f", 60 + (i % 90000) / 1000)
      i = i + stride
      if i > #tokens then i = id + 1 end  -- wrapped: replays show up as non-200
      return wrk.format("POST", path, {["Content-Type"] = "application/json",
                                       ["Authorization"] = "Bearer " .. token},
                        (body:gsub("__WEIGHT__", weight)))
    end
    function response(status, headers, body)
      if status ~= 200 then bad = bad + 1 end
    end
    function done(summary, latency, requests)
      local n = 0
      for _, t in ipairs(threads) do n = n + (t:get("bad") or 0) end
      io.write(string.format("NON200 %d\\nP50 %d\\nP99 %d\\nREQS %d\\n", n,
        latency:percentile(50), latency:percentile(99), summary.requests))
    end
""")


# -- processes and CPU --------------------------------------------------------------------------


def _proc_cpu() -> tuple[dict[int, int], dict[int, float]]:
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
        parent[int(entry.name)] = int(fields[1])
        cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    return parent, cpu


def tree_cpu(root: int) -> float:
    """CPU seconds of a process and its descendants."""
    parent, cpu = _proc_cpu()
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        total += cpu.get(pid, 0.0)
        stack.extend(child for child, ppid in parent.items() if ppid == pid)
    return total


def pids_cpu(pids: set[int]) -> float:
    _, cpu = _proc_cpu()
    return sum(cpu.get(pid, 0.0) for pid in pids)


class Sampler:
    """Samples pg_stat_activity of the benchmark's database every ``interval`` seconds."""

    def __init__(self, dsn: str, interval: float = 0.02) -> None:
        self.dsn = dsn
        self.interval = interval
        self.counts: Counter[str] = Counter()
        self.events: Counter[str] = Counter()
        self.pids: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def backends(self) -> set[int]:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s "
                "AND backend_type = 'client backend'",
                (DATABASE,),
            ).fetchall()
        return {int(r[0]) for r in rows}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self._stop.is_set():
                rows = conn.execute(
                    "SELECT pid, state, wait_event_type, wait_event FROM pg_stat_activity "
                    "WHERE datname = %s AND backend_type = 'client backend'",
                    (DATABASE,),
                ).fetchall()
                for pid, state, wait_type, wait_event in rows:
                    self.pids.add(int(pid))
                    if state == "active":
                        kind = wait_type or "running"
                        self.counts[kind] += 1
                        if wait_type:
                            self.events[f"{wait_type}:{wait_event}"] += 1
                    elif state == "idle in transaction":
                        self.counts["idle in transaction"] += 1
                time.sleep(self.interval)

    def shares(self) -> dict[str, Any]:
        active = sum(v for k, v in self.counts.items() if k != "idle in transaction")
        return {
            "active_samples": active,
            "lock_share": round(self.counts["Lock"] / max(active, 1), 3),
            "lwlock_share": round(self.counts["LWLock"] / max(active, 1), 3),
            "io_share": round(self.counts["IO"] / max(active, 1), 3),
            "running_share": round(self.counts["running"] / max(active, 1), 3),
            "idle_in_transaction_samples": self.counts["idle in transaction"],
            "top_waits": dict(self.events.most_common(4)),
        }


# -- loads --------------------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def measure(name: str, server_pid: int, admin_dsn: str, work: Any) -> tuple[dict[str, Any], Any]:
    """Run ``work()`` (returns (requests, extra)) with CPU accounting and lock sampling."""
    sampler = Sampler(admin_dsn)
    backends = sampler.backends()
    server_before = tree_cpu(server_pid)
    pg_before = pids_cpu(backends)
    sampler.start()
    started = time.perf_counter()
    requests, extra = work()
    wall = time.perf_counter() - started
    sampler.stop()
    server = tree_cpu(server_pid) - server_before
    pg = pids_cpu(backends | sampler.pids) - pg_before
    row = {
        "load": name,
        "requests": requests,
        "seconds": round(wall, 1),
        "rps": round(requests / wall, 1),
        "server_cpu_ms_per_request": round(1000 * server / max(requests, 1), 2),
        "postgres_cpu_ms_per_request": round(1000 * pg / max(requests, 1), 2),
        **sampler.shares(),
    }
    return row, extra


def write_load(base: str, token: str, writers: int, duration: float) -> tuple[int, Any]:
    import httpx

    from inoplan.demo import demo_documents
    from inoplan.services.courses import today

    auth = {"Authorization": f"Bearer {token}"}
    documents = demo_documents(today())
    with httpx.Client(base_url=base, headers=auth, timeout=60) as http:
        ids = []
        for w in range(writers):
            document = documents[w % len(documents)]
            document = {
                **document,
                "patient": {**document["patient"], "id": f"SO-{uuid.uuid4().hex[:8]}"},
            }
            response = http.post("/courses", json=document)
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
    latencies: list[float] = []
    lock = threading.Lock()
    end = time.perf_counter() + duration
    day = today().isoformat()

    def writer(w: int) -> None:
        version, n = 1, 0
        with httpx.Client(base_url=base, headers=auth, timeout=60) as http:
            while time.perf_counter() < end:
                event = {"id": f"so{w}-{n}", "date": day, "type": "vitals", "weight_kg": 70 + n % 9}
                t0 = time.perf_counter()
                response = http.post(
                    f"/courses/{ids[w]}/events", json=event, headers={"If-Match": str(version)}
                )
                elapsed = time.perf_counter() - t0
                if response.status_code != 201:
                    raise RuntimeError(response.text)
                version, n = response.json()["version"], n + 1
                with lock:
                    latencies.append(elapsed)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(latencies), {
        "p50_ms": round(1000 * _percentile(latencies, 50), 1),
        "p99_ms": round(1000 * _percentile(latencies, 99), 1),
    }


def cds_load(
    port: int, work: Path, connections: int, duration: float, offset: int
) -> tuple[int, Any]:
    threads = min(2, connections)
    env = {
        **os.environ,
        "BENCH_TOKENS": str(work / "tokens.txt"),
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
        f"{int(duration)}s",
        "--timeout",
        "10s",
        "-s",
        str(work / "tokens.lua"),
        f"http://127.0.0.1:{port}",
    ]
    out = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=duration + 60, check=True
    ).stdout
    numbers = dict(re.findall(r"^(P50|P99|REQS|NON200) (\d+)$", out, re.M))
    return int(numbers["REQS"]), {
        "p50_ms": int(numbers["P50"]) / 1000,
        "p99_ms": int(numbers["P99"]) / 1000,
        "non200": int(numbers["NON200"]),
    }


# -- one configuration --------------------------------------------------------------------------


def _admin_dsn() -> str:
    url = os.environ.get(
        "INOPLAN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _database_url(admin_dsn: str) -> str:
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}"')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    head, _, _ = admin_dsn.rpartition("/")
    return head.replace("postgresql://", "postgresql+psycopg://", 1) + f"/{DATABASE}"


def _drop(admin_dsn: str) -> None:
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


def _token(url: str) -> str:
    from inoplan.bootstrap import Database
    from inoplan.config import Settings
    from inoplan.services.auth import Principal, hash_password, issue_token

    database = Database(Settings(database_url=url, secret_key=SECRET, environment="production"))
    database.upgrade()
    with database.uow(write=True) as uow:
        uow.users.add(
            username="bench",
            password_hash=hash_password("violet-harbour-lantern-42"),
            role="admin",
            at=datetime.now(UTC),
        )
        uow.commit()
    database.dispose()
    return issue_token(Principal("bench", "admin"), secret=SECRET, minutes=120)[0]


def run_workers(workers: int, args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    admin = _admin_dsn()
    url = _database_url(admin)
    token = _token(url)
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("INOPLAN_")},
        "BENCH_DB": url,
        "BENCH_SECRET": SECRET,
        "BENCH_ISSUERS": str(work / "issuers.toml"),
        "BENCH_PUBLIC_URL": public,
        "BENCH_TODAY": TODAY,
        "BENCH_AUDIT_KEY": "Hq7vT2wLx9Nb4Rm6Yc1Zp5Kd7Fg0Js2Qa9Wu3Ee8Oi4Ly6Vt-audit",
    }
    tokens = mint_tokens(MAX_RATE * int(args.duration + 2) * 2, f"{public}/cds-services/{SERVICE}")
    (work / "tokens.txt").write_text("\n".join(tokens) + "\n")
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--app-dir",
        str(work),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(command, env=env, start_new_session=True)
    rows: list[dict[str, Any]] = []
    try:
        import httpx

        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{public}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.2)
        base = f"{public}/api/v1"
        write_load(base, token, args.writers, 2)  # warm-up: every worker's pool and caches
        cds_load(port, work, args.connections, 2, offset=0)
        row, extra = measure(
            "event writes",
            server.pid,
            admin,
            lambda: write_load(base, token, args.writers, args.duration),
        )
        rows.append({"workers": workers, **row, **extra, "clients": args.writers})
        print(json.dumps(rows[-1]), flush=True)
        offset = MAX_RATE * 2
        row, extra = measure(
            "CDS order-sign",
            server.pid,
            admin,
            lambda: cds_load(port, work, args.connections, args.duration, offset),
        )
        rows.append({"workers": workers, **row, **extra, "clients": args.connections})
        print(json.dumps(rows[-1]), flush=True)
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)  # our own process group only
            server.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(server.pid, signal.SIGKILL)
        _drop(admin)
    return rows


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| workers | load | clients | req/s | p50 / p99 ms | server CPU ms/req | PostgreSQL CPU "
        "ms/req | lock-wait share | LWLock / IO share | running share | idle in transaction "
        "samples |",
        "|---:|---|---:|---:|---|---:|---:|---:|---|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['workers']} | {r['load']} | {r['clients']} | {r['rps']} | {r['p50_ms']} / "
            f"{r['p99_ms']} | {r['server_cpu_ms_per_request']} | "
            f"{r['postgres_cpu_ms_per_request']} | **{r['lock_share']:.1%}** | "
            f"{r['lwlock_share']:.1%} / {r['io_share']:.1%} | {r['running_share']:.1%} | "
            f"{r['idle_in_transaction_samples']} |"
        )
    lines.append("")
    lines.append(
        f"Measured {result['measured']} on commit {result['commit']}; {result['cpus']} CPUs; "
        f"load average {result['load_before']} before and {result['load_after']} after."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install -y wrk")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    load_before = [round(x, 2) for x in os.getloadavg()]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-scaleout-") as tmp:
        work = Path(tmp)
        body = payload()
        for entry in body["prefetch"]["weight"]["entry"]:
            entry["resource"]["valueQuantity"]["value"] = "__WEIGHT__"
        (work / "body.json").write_text(json.dumps(body).replace('"__WEIGHT__"', "__WEIGHT__"))
        (work / "tokens.lua").write_text(LUA)
        (work / "bench_app.py").write_text(APP)
        public = {
            "keys": [
                {k: v for k, v in json.loads(SANDBOX.read_text())["keys"][0].items() if k != "d"}
            ]
        }
        (work / "sandbox.json").write_text(json.dumps(public))
        (work / "issuers.toml").write_text(
            f'[[issuer]]\niss = "{ISS}"\njwks_file = "sandbox.json"\nmax_lifetime_s = 900\n'
        )
        for workers in args.workers:
            rows.extend(run_workers(workers, args, work))
    result = {
        "measured": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
        "cpus": os.cpu_count(),
        "load_before": load_before,
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "rows": rows,
        "median_rps": {
            load: statistics.median(r["rps"] for r in rows if r["load"] == load)
            for load in {r["load"] for r in rows}
        },
    }
    print(json.dumps(result, indent=2))
    if args.markdown:
        print()
        print(markdown(result))


if __name__ == "__main__":
    main()
