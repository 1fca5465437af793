"""Scale-out: several ``inoplan serve`` worker processes on one PostgreSQL lose no write."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import httpx
import pytest

from tests.integration.records_helpers import (
    add_users,
    course_document,
    headers,
    migrated_database,
    vitals_event,
)
from tests.integration.test_crash import _free_port, _start

WRITERS = 8
EVENTS_PER_WRITER = 25


@pytest.mark.postgres
def test_writers_racing_through_several_workers_lose_nothing(
    postgres_schema_url: str, tmp_path: Path
) -> None:
    database = migrated_database(postgres_schema_url)
    token = add_users(database)["admin"]
    database.dispose()
    port = _free_port()
    server = _start(postgres_schema_url, port, tmp_path / "server.log", workers=3)
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        with httpx.Client(base_url=base, headers=headers(token), timeout=60) as http:
            ids = [
                http.post("/courses", json=course_document(0, patient_id=f"SW-{i}")).json()["id"]
                for i in range(2)
            ]
        acknowledged: list[tuple[int, str]] = []
        conflicts = [0]
        lock = threading.Lock()

        def writer(w: int) -> None:
            course_id = ids[w % 2]  # four writers per course, spread over the workers
            with httpx.Client(base_url=base, headers=headers(token), timeout=60) as http:
                version = http.get(f"/courses/{course_id}").json()["version"]
                for n in range(EVENTS_PER_WRITER):
                    event = vitals_event(n, prefix=f"w{w}")
                    while True:
                        response = http.post(
                            f"/courses/{course_id}/events",
                            json=event,
                            headers={"If-Match": str(version)},
                        )
                        if response.status_code == 409:
                            with lock:
                                conflicts[0] += 1
                            version = http.get(f"/courses/{course_id}").json()["version"]
                            continue
                        assert response.status_code == 201, response.text
                        version = response.json()["version"]
                        with lock:
                            acknowledged.append((course_id, event["id"]))
                        break

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        with httpx.Client(base_url=base, headers=headers(token), timeout=60) as http:
            present: set[tuple[int, str]] = set()
            for course_id in ids:
                course = http.get(f"/courses/{course_id}").json()
                written = [e for e in course["events"] if str(e.get("id", "")).startswith("w")]
                assert course["version"] == 1 + len(written)
                present.update((course_id, e["id"]) for e in written)
            verify = http.get("/audit/verify").json()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    assert len(acknowledged) == WRITERS * EVENTS_PER_WRITER
    assert present == set(acknowledged)
    assert conflicts[0] > 0  # the race really happened, and every loser was told (409)
    assert verify["ok"] and verify["checked"] == 2 + WRITERS * EVENTS_PER_WRITER, verify
