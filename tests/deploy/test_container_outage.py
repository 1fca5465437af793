"""The service started exactly as the container starts it answers /readyz, reports not ready
while PostgreSQL is unreachable, and after PostgreSQL is back no acknowledged write is lost.

PostgreSQL "goes down" behind a TCP proxy this test controls; the machine's PostgreSQL keeps
running. The command is the Dockerfile's entry point; the environment is the image's plus
compose.yaml's, with three local differences: the database URL points at the proxy (and a
schema of its own), the service listens on 127.0.0.1 and a free port instead of 0.0.0.0:8000.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deploy.container import app_environment, entrypoint
from tests.deploy.tcp_proxy import TcpProxy
from tests.integration.records_helpers import (
    AUDIT_KEY,
    SECRET,
    add_users,
    course_document,
    headers,
    migrated_database,
    vitals_event,
)
from tests.security.security_helpers import free_port, serve, stop


def _wait_for(url: str, status: int, *, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = httpx.get(url, timeout=10).status_code
        except httpx.HTTPError as exc:
            last = exc
        if last == status:
            return
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer {status} (last: {last})")


@pytest.mark.postgres
def test_readyz_follows_the_database_and_no_acknowledged_write_is_lost(
    postgres_schema_url: str, tmp_path: Path
) -> None:
    upstream_port = int(postgres_schema_url.split("@127.0.0.1:", 1)[1].split("/", 1)[0])
    proxy = TcpProxy(upstream_port)
    proxy.start()
    url = postgres_schema_url.replace(f"127.0.0.1:{upstream_port}", f"127.0.0.1:{proxy.port}")
    database = migrated_database(postgres_schema_url)
    token = add_users(database)["admin"]
    database.dispose()

    port = free_port()
    env = app_environment(
        {
            "POSTGRES_PASSWORD": "unused",
            "INOPLAN_SECRET_KEY": SECRET,
            "INOPLAN_AUDIT_KEY": AUDIT_KEY,
            "INOPLAN_PUBLIC_URL": "https://inoplan.example.org",
            "INOPLAN_WORKERS": "2",
        }
    )
    env.update(
        INOPLAN_DATABASE_URL=url,
        INOPLAN_HOST="127.0.0.1",
        INOPLAN_PORT=str(port),
        INOPLAN_INSTANCE_PATH=str(tmp_path / "instance"),
    )
    argv = entrypoint()
    # the image has the console script on PATH; here it sits beside this interpreter
    beside = Path(sys.executable).with_name(argv[0])
    argv[0] = str(beside) if beside.exists() else (shutil.which(argv[0]) or argv[0])
    assert Path(argv[0]).name == "inoplan"
    server = serve(argv, env, tmp_path / "serve.log", port=port, ready="/readyz")
    base = f"http://127.0.0.1:{port}"
    acknowledged: list[tuple[int, str]] = []
    created: list[int] = []
    try:
        with httpx.Client(base_url=f"{base}/api/v1", headers=headers(token), timeout=30) as api:
            for n in range(3):
                document = course_document(n % 4, patient_id=f"OUT-{n}")
                response = api.post("/courses", json=document)
                assert response.status_code == 201, response.text
                created.append(response.json()["id"])
            versions = dict.fromkeys(created, 1)

            def write(n: int, prefix: str) -> int:
                course_id = created[n % len(created)]
                event = vitals_event(n, prefix=prefix)
                try:
                    response = api.post(
                        f"/courses/{course_id}/events",
                        json=event,
                        headers={"If-Match": str(versions[course_id])},
                    )
                except httpx.HTTPError:
                    return 0  # no answer: not acknowledged
                if response.status_code == 201:
                    versions[course_id] = response.json()["version"]
                    acknowledged.append((course_id, event["id"]))
                elif response.status_code == 409:
                    versions[course_id] = api.get(f"/courses/{course_id}").json()["version"]
                return response.status_code

            assert [write(n, "before") for n in range(12)] == [201] * 12

            # writes keep coming while the database goes away
            stop_writing = threading.Event()
            outcomes: list[int] = []

            def writer() -> None:
                n = 0
                while not stop_writing.is_set():
                    outcomes.append(write(n, "during"))
                    n += 1
                    time.sleep(0.02)

            thread = threading.Thread(target=writer)
            thread.start()
            time.sleep(0.3)
            proxy.stop()
            _wait_for(f"{base}/readyz", 503)
            down = httpx.get(f"{base}/readyz", timeout=10)
            assert down.json() == {
                "status": "not ready",
                "database": "unreachable",
                "migrations": "unknown",
            }
            assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200  # alive
            time.sleep(1.0)
            refused = api.post(
                f"/courses/{created[0]}/events",
                json=vitals_event(999, prefix="refused"),
                headers={"If-Match": str(versions[created[0]])},
            )
            assert refused.status_code == 503, refused.text  # told, never a 500
            proxy.start()
            _wait_for(f"{base}/readyz", 200)
            stop_writing.set()
            thread.join(60)
            assert 500 not in outcomes
            assert [write(n, "after") for n in range(6)] == [201] * 6

            present: set[tuple[int, str]] = set()
            for course_id in created:
                course = api.get(f"/courses/{course_id}").json()
                present |= {(course_id, str(e.get("id"))) for e in course["events"]}
            missing = set(acknowledged) - present
            assert not missing, f"acknowledged writes lost: {sorted(missing)}"
            assert (created[0], "refused-999") not in present
            verify = api.get("/audit/verify").json()
            assert verify["ok"], verify
    finally:
        stop(server)
        proxy.stop()
