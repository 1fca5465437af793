"""Today list benchmark (issue 15 item 2): stored decisions read in one query.

What it does, for N = 10, 200 and 1,000 distinct courses (``--sizes``) in one database:

1. seeds the courses: one 6-cycle course (``bench_web.six_cycle_course``: 45 events, 17 doses
   given, the 18th due) is created through the records service, then copied to N courses with
   distinct patients and a distinct weight (rows written directly, in batches);
2. **cold**: the Today list's service (``services.decisions.day_decisions``) with every stored
   decision stale (a site policy not seen before): all N decisions recomputed and stored in one
   transaction. The old list did this on every load, one transaction each;
3. **warm service**: ``day_decisions`` again (nothing stale: one SELECT), median of ``--repeat``;
4. **warm page**: ``GET /`` through the real application (Starlette test client, logged in as a
   pharmacist), the route's own time from its ``Server-Timing`` header (``app;dur``: the query,
   the MAC check of every stored row, the rows, the Jinja template of the first page: 100 rows),
   median of ``--repeat``;
5. anchors measured in the same run: ``decide_document`` on one course (median over
   ``--repeat`` distinct courses) and a raw ``SELECT`` of the N stored rows' list columns
   (SQLAlchemy ``text()``, no join, no mapping), median of ``--repeat``;
6. prints each row's ratio to its anchors and, with ``--markdown``, a table for bench/README.md.

Usage::

    .venv/bin/python bench/bench_today.py [--sizes 10 200 1000] [--repeat 7]
        [--backend sqlite|postgres] [--markdown] [--profile]

PostgreSQL comes from ``INOPLAN_TEST_POSTGRES_URL`` (a throwaway schema, dropped afterwards).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_web import six_cycle_course  # noqa: E402

SECRET = "bench-today-" + "t" * 40
BENCH_PASSWORD = "violet-harbour-lantern-42"


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


def _database_url(backend: str) -> tuple[str, Any]:
    if backend == "sqlite":
        folder = tempfile.mkdtemp(prefix="bench-today-")
        return f"sqlite:///{folder}/today.db", None
    import psycopg

    base = os.environ.get(
        "INOPLAN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    schema = f"bench_today_{uuid.uuid4().hex[:8]}"
    dsn = base.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')

    def drop() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')

    return f"{base}?options={quote(f'-csearch_path={schema}')}", drop


def _seed(database: Any, document: dict[str, Any], first: int, last: int, at: datetime) -> None:
    """Courses ``first`` .. ``last - 1``: copies of ``document`` with their own patient and
    weight, written directly (the template was validated by ``create_course``)."""
    birth = date.fromisoformat(document["patient"]["birth_date"])
    batch = 100
    for start in range(first, last, batch):
        with database.uow(write=True) as uow:
            for i in range(start, min(last, start + batch)):
                copy_of = copy.deepcopy(document)
                copy_of["patient"]["id"] = f"BENCH-T-{i:05d}"
                copy_of["events"][0]["weight_kg"] = 60 + (i % 300) / 10
                patient_id = uow.patients.get_or_add(
                    external_id=copy_of["patient"]["id"], birth_date=birth, sex="male", at=at
                )
                course_id = uow.courses.add(
                    patient_id=patient_id,
                    label="us",
                    has_label=True,
                    label_revision="us-2024-03",
                    patient_doc=copy_of["patient"],
                    plan_doc=copy_of["plan"],
                    start_date=date.fromisoformat(copy_of["plan"]["start_date"]),
                    event_count=len(copy_of["events"]),
                    at=at,
                    by="bench",
                )
                for position, event in enumerate(copy_of["events"]):
                    uow.courses.add_event(course_id, position, event, at=at, by="bench")
            uow.commit()


def _login(client: Any) -> None:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    response = client.post(
        "/login",
        data={"username": "pharmacist", "password": BENCH_PASSWORD, "csrf_token": token[1]},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.status_code


def run(sizes: list[int], repeat: int, backend: str, profile: bool) -> dict[str, Any]:
    from sqlalchemy import text
    from starlette.testclient import TestClient

    from inoplan.api.app import create_app
    from inoplan.config import Settings
    from inoplan.domain.policy import SitePolicy
    from inoplan.services.auth import add_user
    from inoplan.services.courses import decide_document
    from inoplan.services.decision_store import SUMMARY_COLUMNS
    from inoplan.services.decisions import day_decisions
    from inoplan.services.records import create_course, export_document

    url, cleanup = _database_url(backend)
    settings = Settings(database_url=url, secret_key=SECRET)
    app = create_app(settings)
    database = app.state.database
    database.upgrade()
    add_user(database, "pharmacist", BENCH_PASSWORD, "pharmacist", actor="bench")
    document, on = six_cycle_course()
    at = datetime(on.year, on.month, on.day, 9, tzinfo=UTC)
    app.state.web_clock = lambda: at
    label = create_course(database, document, actor="bench", now=at, clock=lambda: at)
    template = export_document(database, label.id)
    rows: list[dict[str, Any]] = []
    seeded = 1
    try:
        with TestClient(app) as client:
            _login(client)
            for size in sorted(sizes):
                _seed(database, template, seeded, size, at)
                seeded = max(seeded, size)
                cold_policy = SitePolicy(source=f"bench cold {size}")  # every row stale
                started = time.perf_counter()
                cold = day_decisions(database, on, policy=cold_policy)
                cold_s = time.perf_counter() - started
                assert (cold.recomputed, cold.errors) == (size, 0), (cold.recomputed, cold.errors)
                day_decisions(database, on)  # the server's policy (defaults): stored once
                service: list[float] = []
                service_cpu: list[float] = []
                for _ in range(repeat):
                    started, cpu_started = time.perf_counter(), time.thread_time()
                    warm = day_decisions(database, on)
                    service.append(time.perf_counter() - started)
                    service_cpu.append(time.thread_time() - cpu_started)
                    assert (warm.fresh, warm.recomputed) == (size, 0)
                statuses = sorted({r.status for r in warm.rows})
                page: list[float] = []
                page_cpu: list[float] = []
                page_bytes = 0
                for i in range(repeat + 2):
                    response = client.get("/")
                    assert response.status_code == 200
                    timing = re.search(
                        r"app;dur=([\d.]+), cpu;dur=([\d.]+)", response.headers["server-timing"]
                    )
                    assert timing is not None
                    if i >= 2:
                        page.append(float(timing[1]) / 1000)
                        page_cpu.append(float(timing[2]) / 1000)
                    page_bytes = len(response.content)
                raw: list[float] = []
                query = text(
                    "SELECT course_id, course_version, fingerprint, "
                    + ", ".join(SUMMARY_COLUMNS)
                    + " FROM current_decisions WHERE as_of = :on"
                )
                for _ in range(repeat):
                    with database.engine.connect() as connection:
                        started = time.perf_counter()
                        fetched = connection.execute(query, {"on": on}).fetchall()
                        raw.append(time.perf_counter() - started)
                    assert len(fetched) == size
                decide: list[float] = []
                decide_cpu: list[float] = []
                for course_id in range(1, 1 + min(repeat, size)):  # distinct courses
                    one = export_document(database, course_id)
                    started, cpu_started = time.perf_counter(), time.thread_time()
                    decide_document(one, on)
                    decide.append(time.perf_counter() - started)
                    decide_cpu.append(time.thread_time() - cpu_started)
                row = {
                    "courses": size,
                    "statuses": statuses,
                    "cold_ms": round(cold_s * 1000, 1),
                    "cold_ms_per_course": round(cold_s * 1000 / size, 2),
                    "warm_service_ms": _median_ms(service),
                    "warm_service_cpu_ms": _median_ms(service_cpu),
                    "warm_page_ms": _median_ms(page),
                    "warm_page_cpu_ms": _median_ms(page_cpu),
                    "page_bytes": page_bytes,
                    "anchor_decide_one_ms": _median_ms(decide),
                    "anchor_decide_one_cpu_ms": _median_ms(decide_cpu),
                    "anchor_raw_select_ms": _median_ms(raw),
                }
                row["ratio_service_to_decide"] = round(
                    row["warm_service_ms"] / row["anchor_decide_one_ms"], 2
                )
                row["ratio_page_to_decide"] = round(
                    row["warm_page_ms"] / row["anchor_decide_one_ms"], 2
                )
                row["ratio_page_cpu_to_decide_cpu"] = round(
                    row["warm_page_cpu_ms"] / row["anchor_decide_one_cpu_ms"], 2
                )
                row["ratio_service_to_raw_select"] = round(
                    row["warm_service_ms"] / row["anchor_raw_select_ms"], 2
                )
                print(json.dumps(row), flush=True)
                rows.append(row)
            if profile:
                _profile(client, database, on)
    finally:
        database.dispose()
        if cleanup is not None:
            cleanup()
    return {
        "measured": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "backend": backend,
        "repeat": repeat,
        "rows": rows,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}",
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
    }


def _profile(client: Any, database: Any, on: date) -> None:
    """cProfile of the page's work in this thread: the view (query + rows) and the template."""
    import cProfile
    import pstats

    from inoplan.services.auth import Principal, can
    from inoplan.web.routes import _SHOW_CHOICES, _templates
    from inoplan.web.views import BADGE_TEXT, today_view

    principal = Principal("pharmacist", "pharmacist")
    template = _templates().get_template("today.html")

    def page() -> str:
        view = today_view(database, principal, on)
        return str(
            template.render(
                **view,
                status_text=BADGE_TEXT,
                choices=_SHOW_CHOICES,
                is_today=True,
                csrf_token="x" * 43,
                principal=principal,
                can=lambda action: can(principal.role, action),
                path="/",
            )
        )

    page()
    for name, work in (("view", lambda: today_view(database, principal, on)), ("page", page)):
        started = time.perf_counter()
        for _ in range(5):
            work()
        print(f"{name}: {(time.perf_counter() - started) * 200:.1f} ms per call", flush=True)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(5):
        page()
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def markdown(result: dict[str, Any], load_start: tuple[float, ...]) -> str:
    lines = [
        "| courses | cold: all recomputed, one transaction (per course) | warm service "
        "(`day_decisions`) wall / CPU | warm page (`GET /`, server) wall / **CPU** | anchor: "
        "`decide_document`, one course, wall / CPU | anchor: raw SELECT of N rows | service / "
        "raw SELECT (wall) | page / decide one (wall) | **page CPU / decide-one CPU** |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['courses']} | {r['cold_ms']} ms ({r['cold_ms_per_course']} ms) "
            f"| {r['warm_service_ms']} / {r['warm_service_cpu_ms']} ms "
            f"| {r['warm_page_ms']} / **{r['warm_page_cpu_ms']} ms** "
            f"| {r['anchor_decide_one_ms']} / {r['anchor_decide_one_cpu_ms']} ms "
            f"| {r['anchor_raw_select_ms']} ms | {r['ratio_service_to_raw_select']}x "
            f"| {r['ratio_page_to_decide']}x | **{r['ratio_page_cpu_to_decide_cpu']}x** |"
        )
    lines.append("")
    lines.append(
        f"Measured {result['measured']}, backend {result['backend']}, median of "
        f"{result['repeat']}; {result['machine']}; load average "
        f"{', '.join(f'{x:.2f}' for x in load_start)} at the start and "
        f"{', '.join(str(x) for x in result['load_average_end'])} at the end."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 200, 1000])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile of the largest list")
    args = parser.parse_args()
    load_start = os.getloadavg()
    result = run(args.sizes, args.repeat, args.backend, args.profile)
    print(json.dumps(result, indent=2))
    if args.markdown:
        print()
        print(markdown(result, load_start))


if __name__ == "__main__":
    main()
