"""Helpers shared by the security tests: a pinned login clock, logging in through the web."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from tests.integration.records_helpers import settings_for

#: The instant every login of these tests happens at (throttle delays never run out by
#: themselves; tests that need time to pass move the stored blocks).
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def make_app(db_url: str, **settings: Any) -> Any:
    from inoplan.api import create_app

    application = create_app(settings_for(db_url, **settings))
    application.state.login_clock = lambda: NOW
    return application


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')  # the web forms' CSRF field


def web_login(client: Any, username: str, password: str) -> Any:
    page = client.get("/login")
    match = CSRF.search(page.text)
    assert match, page.text[:200]
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": match.group(1)},
        follow_redirects=False,
    )


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(
    argv: list[str], env: dict[str, str], log: Any, *, port: int, ready: str = "/healthz"
) -> Any:
    """Start ``argv`` (an ``inoplan serve`` command) in its own process group and wait until
    ``ready`` answers 200 (at most 90 s). Returns the Popen; stop it with :func:`stop`."""
    import os
    import subprocess
    import time

    import httpx

    base = {k: v for k, v in os.environ.items() if not k.startswith("INOPLAN_")}
    process = subprocess.Popen(
        argv,
        env={**base, **env},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}{ready}", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop(process)
    raise AssertionError(f"server did not start: {log.read_text(errors='replace')[-3000:]}")


def stop(process: Any) -> None:
    """End the server we started (its own process group only)."""
    import os
    import signal

    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except Exception:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
