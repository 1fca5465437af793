"""Web UI benchmark: server time of the course page for a 6-cycle course (target p95 <= 150 ms).

What it does:

1. builds a complete 6-cycle course (no transplant; CR after cycle 1; vitals each cycle, labs the
   day before each of the 18 doses, an ECG, 17 doses given) and evaluates it on cycle 6 day 15,
   when the 18th dose is due (status ``give``);
2. runs the real application (``create_app``; SQLite file database, migrated) on a Uvicorn
   server on loopback (one worker, access log off), logs in through ``/login`` like a browser;
3. requests ``GET /courses/{id}?on=...`` sequentially (after warm-up requests) and records, per
   request, the time the server spent in the route (the ``Server-Timing: app;dur=`` header the
   page sends: decision (recorded as shown, with its audit record), plan, lab plots, audit
   history, template), the CPU time of the route's thread (``cpu;dur=``; steadier than wall
   time on a busy machine) and the client's wall time on loopback;
4. with ``--today-courses N``, adds N-1 copies of the course and times the today list ``GET /``
   (every course's decision computed and recorded as shown);
5. prints p50/p95/p99/max and, with ``--markdown``, a table for bench/README.md.

Every request writes one decision record and one audit record (every decision shown is on the
record), so the audit history shown on the page grows by one row per request; the page lists
the newest 100.

Usage::

    .venv/bin/python bench/bench_web.py [--requests 300] [--warmup 20] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

START = date(2027, 1, 4)


def six_cycle_course() -> tuple[dict[str, Any], date]:
    """A course with 17 doses given and the 18th (cycle 6 day 15) due on the returned date."""
    events: list[dict[str, Any]] = [
        {"date": "2026-12-30", "type": "vitals", "height_cm": 172, "weight_kg": 74},
        {"date": "2026-12-30", "type": "ecg", "qtcf_ms": 432},
        {"date": "2026-12-30", "type": "pregnancy_test", "result": "negative"},
    ]
    doses: list[tuple[int, int, date]] = []
    cycle_start = START
    for cycle in range(1, 7):
        length = 21 if cycle == 1 else 28
        for day in (1, 8, 15):
            doses.append((cycle, day, cycle_start + timedelta(days=day - 1)))
        cycle_start += timedelta(days=length)
    for index, (cycle, day, on) in enumerate(doses):
        before = on - timedelta(days=1)
        if day == 1:
            events.append(
                {"date": before.isoformat(), "type": "vitals", "weight_kg": 74 - cycle * 0.3}
            )
        events.append(
            {
                "date": before.isoformat(),
                "type": "labs",
                "anc": {"value": round(1.2 + 0.05 * (index % 5), 2), "unit": "10*9/L"},
                "platelets": {"value": 80 + 5 * (index % 7), "unit": "10*9/L"},
                "bilirubin": {"value": 0.6 + 0.05 * (index % 4), "unit": "mg/dL", "uln": 1.2},
                "ast": {"value": 28 + index % 9, "unit": "U/L", "uln": 40},
                "alt": {"value": 25 + index % 11, "unit": "U/L", "uln": 41},
            }
        )
        if index < len(doses) - 1:  # the last dose is the one due
            mg_per_m2 = 0.8 if (cycle, day) == (1, 1) else 0.5
            events.append(
                {
                    "date": on.isoformat(),
                    "type": "administration",
                    "cycle": cycle,
                    "day": day,
                    "dose_mg": round(mg_per_m2 * 1.88, 2),
                }
            )
        if (cycle, day) == (1, 15):
            events.append(
                {
                    "date": (on + timedelta(days=5)).isoformat(),
                    "type": "response",
                    "status": "CR",
                    "mrd_negative": False,
                }
            )
    document = {
        "label": "us",
        "patient": {
            "id": "BENCH-6C",
            "birth_date": "1968-05-02",
            "sex": "male",
            "reproductive_potential": False,
            "allergies": [],
            "history": {"liver_disease": "none", "salvage_line": 1},
        },
        "plan": {
            "start_date": START.isoformat(),
            "hsct_intended": False,
            "vial": "us-0.9mg",
            "bsa_formula": "mosteller",
        },
        "events": events,
    }
    return document, doses[-1][2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def run(
    requests: int, warmup: int, today_courses: int = 0, today_requests: int = 10
) -> dict[str, Any]:
    import httpx
    import uvicorn

    from inoplan.api.app import create_app
    from inoplan.config import Settings
    from inoplan.services.auth import add_user
    from inoplan.services.records import create_course

    workdir = Path(tempfile.mkdtemp(prefix="bench-web-"))
    settings = Settings(database_url=f"sqlite:///{workdir / 'bench.db'}", secret_key="b" * 48)
    app = create_app(settings)
    app.state.database.upgrade()
    add_user(app.state.database, "pharmacist", "bench-password", "pharmacist", actor="bench")
    document, on = six_cycle_course()
    course_id = create_course(app.state.database, document, actor="bench").id
    app.state.web_clock = lambda: datetime(on.year, on.month, on.day, 9, tzinfo=UTC)

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    server_ms: list[float] = []
    cpu_ms: list[float] = []
    wall_ms: list[float] = []
    status = ""
    size = 0
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            page = client.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token is not None
            login = client.post(
                "/login",
                data={
                    "username": "pharmacist",
                    "password": "bench-password",
                    "csrf_token": token.group(1),
                },
            )
            assert login.status_code == 303, login.status_code
            url = f"/courses/{course_id}"
            for i in range(warmup + requests):
                started = time.perf_counter()
                response = client.get(url)
                elapsed = (time.perf_counter() - started) * 1000
                assert response.status_code == 200, response.text[:500]
                timing = re.search(
                    r"app;dur=([\d.]+), cpu;dur=([\d.]+)", response.headers.get("server-timing", "")
                )
                assert timing is not None
                if i >= warmup:
                    wall_ms.append(elapsed)
                    server_ms.append(float(timing.group(1)))
                    cpu_ms.append(float(timing.group(2)))
                status_match = re.search(r'data-status="(\w+)"', response.text)
                status = status_match.group(1) if status_match else "?"
                size = len(response.content)
            doses_given = sum(1 for e in document["events"] if e["type"] == "administration")
            today_ms: list[float] = []
            if today_courses > 1:  # the today list: one decision (recorded) per course
                for i in range(today_courses - 1):
                    other = json.loads(json.dumps(document))
                    other["patient"]["id"] = f"BENCH-6C-{i:03d}"
                    create_course(app.state.database, other, actor="bench")
                for i in range(2 + today_requests):
                    response = client.get("/")
                    assert response.status_code == 200
                    timing = re.search(r"app;dur=([\d.]+)", response.headers["server-timing"])
                    assert timing is not None
                    if i >= 2:
                        today_ms.append(float(timing.group(1)))
    finally:
        server.should_exit = True
        thread.join(timeout=20)

    def summary(values: list[float]) -> dict[str, float]:
        return {
            "p50": round(statistics.median(values), 1),
            "p95": round(_percentile(values, 95), 1),
            "p99": round(_percentile(values, 99), 1),
            "max": round(max(values), 1),
            "mean": round(statistics.fmean(values), 1),
        }

    return {
        "measured": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "requests": requests,
        "warmup": warmup,
        "course": {
            "cycles": 6,
            "events": len(document["events"]),
            "doses_given": doses_given,
            "as_of": on.isoformat(),
            "status": status,
            "page_bytes": size,
        },
        "server_ms": summary(server_ms),
        "server_cpu_ms": summary(cpu_ms),
        "wall_ms": summary(wall_ms),
        "today_list": (
            {"courses": today_courses, "requests": today_requests, "server_ms": summary(today_ms)}
            if today_ms
            else None
        ),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}",
        "load_average": [round(x, 1) for x in os.getloadavg()],
    }


def markdown(result: dict[str, Any]) -> str:
    s, w, c = result["server_ms"], result["wall_ms"], result["course"]
    u = result["server_cpu_ms"]
    today = result.get("today_list")
    extra = []
    if today:
        t = today["server_ms"]
        extra = [
            "",
            f"Today list (`GET /`) with {today['courses']} such courses, {today['requests']} "
            f"requests: server p50 {t['p50']} ms, p95 {t['p95']} ms "
            f"({t['p50'] / today['courses']:.1f} ms per course).",
        ]
    return "\n".join(
        [
            "| measured | requests | server p50 | server p95 | server p99 | server CPU p50 / p95 "
            "| client wall p95 (loopback) | target | verdict |",
            "|---|---|---|---|---|---|---|---|---|",
            f"| {result['measured']} | {result['requests']} | {s['p50']} ms | **{s['p95']} ms** | "
            f"{s['p99']} ms | {u['p50']} / {u['p95']} ms | {w['p95']} ms | p95 <= 150 ms | "
            f"{'within target' if s['p95'] <= 150 else 'OVER TARGET'} |",
            "",
            f"Course: 6 cycles, {c['events']} events, {c['doses_given']} doses given, page for "
            f"{c['as_of']} (cycle 6 day 15, status `{c['status']}`), "
            f"{c['page_bytes']} bytes of HTML. "
            f"Machine: {result['machine']}; load average at the end "
            f"{', '.join(str(x) for x in result['load_average'])}.",
            *extra,
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument(
        "--today-courses",
        type=int,
        default=0,
        help="also time the today list with this many 6-cycle courses",
    )
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    result = run(args.requests, args.warmup, args.today_courses)
    print(json.dumps(result, indent=2))
    if args.markdown:
        print()
        print(markdown(result))


if __name__ == "__main__":
    main()
