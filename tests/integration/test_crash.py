"""Crash safety: kill -9 the server while 1,000 writes are in flight, restart, check.

Every acknowledged write (a course created, an event appended) must be present after the
restart, no course may be half-written (its events are exactly its creation document's events
followed by appended events, and its version counts them), and the audit chain must verify.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from inoplan.bootstrap import Database
from tests.integration.records_helpers import (
    AUDIT_KEY,
    SECRET,
    add_users,
    course_document,
    headers,
    vitals_event,
)

TOTAL_WRITES = 1000
KILL_AFTER_ACKS = 350
CLIENTS = 8


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(url: str, port: int, log: Path, *, workers: int = 1) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("INOPLAN_")},
        "INOPLAN_DATABASE_URL": url,
        "INOPLAN_SECRET_KEY": SECRET,
        "INOPLAN_AUDIT_KEY": AUDIT_KEY,
        "INOPLAN_ENVIRONMENT": "production",
        "INOPLAN_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "inoplan", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("server did not start")


def test_acknowledged_writes_survive_kill_9(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    token = add_users(database)["admin"]
    database.dispose()
    port = _free_port()
    log = tmp_path / "server.log"
    server = _start(database_url, port, log)
    base = f"http://127.0.0.1:{port}/api/v1"

    created: dict[int, dict[str, Any]] = {}  # acknowledged course id -> creation document
    appended: list[tuple[int, str]] = []  # acknowledged (course id, event id)
    lock = threading.Lock()
    sent = [0]
    stop = threading.Event()

    def client(c: int) -> None:
        with httpx.Client(base_url=base, headers=headers(token), timeout=30) as http:
            course_id: int | None = None
            version = 0
            n = 0
            while not stop.is_set():
                with lock:
                    if sent[0] >= TOTAL_WRITES:
                        return
                    sent[0] += 1
                try:
                    if course_id is None or n % 25 == 0:  # a new course now and then
                        document = course_document(c % 4, patient_id=f"K-{c}-{n}")
                        response = http.post("/courses", json=document)
                        if response.status_code != 201:
                            raise AssertionError(response.text)
                        course_id, version = response.json()["id"], 1
                        with lock:
                            created[course_id] = document
                    else:
                        event = vitals_event(n, prefix=f"c{c}")
                        response = http.post(
                            f"/courses/{course_id}/events",
                            json=event,
                            headers={"If-Match": str(version)},
                        )
                        if response.status_code != 201:
                            raise AssertionError(response.text)
                        version = response.json()["version"]
                        with lock:
                            appended.append((course_id, event["id"]))
                except httpx.HTTPError:  # the server was killed: this write is unacknowledged
                    return
                n += 1

    threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
    for t in threads:
        t.start()
    while len(appended) + len(created) < KILL_AFTER_ACKS and any(t.is_alive() for t in threads):
        time.sleep(0.005)
    os.killpg(server.pid, signal.SIGKILL)  # the server's own session: only what we started
    server.wait()
    stop.set()
    for t in threads:
        t.join()
    acknowledged = len(appended) + len(created)
    assert KILL_AFTER_ACKS <= acknowledged < TOTAL_WRITES, "the kill must land mid-run"

    server = _start(database_url, port, log)
    try:
        with httpx.Client(base_url=base, headers=headers(token), timeout=30) as http:
            listing = http.get("/courses", params={"limit": 200}).json()
            assert listing["count"] >= len(created)
            stored: dict[int, dict[str, Any]] = {}
            for summary in listing["data"]:
                stored[summary["id"]] = http.get(f"/courses/{summary['id']}").json()
            verify = http.get("/audit/verify").json()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    assert set(created) <= set(stored)  # every acknowledged course is there
    for course_id, document in created.items():  # ... exactly as created, never half-written
        course = stored[course_id]
        initial = len(document["events"])
        assert course["events"][:initial] == document["events"]
        assert course["version"] == 1 + len(course["events"]) - initial
    for course in stored.values():  # acknowledged or not, no course is half-written
        _, c, _n = course["patient"]["id"].split("-")
        initial = course_document(int(c) % 4)["events"]
        assert course["events"][: len(initial)] == initial
        assert course["version"] == 1 + len(course["events"]) - len(initial)
    present = {
        (cid, e["id"])
        for cid, c in stored.items()
        for e in c["events"]
        if str(e.get("id", "")).startswith("c")
    }
    missing = set(appended) - present
    assert not missing, f"{len(missing)} acknowledged events lost"
    assert verify["ok"], verify
