"""Finding 1: brute force is throttled (per account, address and device, shared by every
worker), password hashing is bounded and off the event loop, failures are logged and audited."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from inoplan.services.auth import THROTTLE, ThrottlePolicy
from tests.integration.records_helpers import PASSWORD, headers
from tests.security.security_helpers import NOW, make_app, web_login

TOKEN = "/api/v1/auth/token"


def _login(client: Any, username: str, password: str) -> Any:
    return client.post(TOKEN, data={"username": username, "password": password})


def _unblock(app: Any) -> None:
    """Let the time of every block pass (the counters stay)."""
    from sqlalchemy import update

    from inoplan.persistence.rows import LoginThrottleRow

    with app.state.database.uow(write=True) as uow:
        past = NOW - timedelta(seconds=1)
        uow.session.execute(update(LoginThrottleRow).values(blocked_until=past))
        uow.commit()


def test_repeated_wrong_passwords_get_429_with_retry_after(client: Any, tokens: Any) -> None:
    free = THROTTLE["account"].free
    statuses = [_login(client, "nurse", f"wrong guess {n}").status_code for n in range(200)]
    # a few typos cost nothing; the next failure starts a delay, and every try within it is
    # refused before any password is checked
    assert statuses == [401] * (free + 1) + [429] * (200 - free - 1)
    blocked = _login(client, "nurse", PASSWORD)  # even the right password waits
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) >= 1
    assert blocked.headers["content-type"].startswith("application/problem+json")
    assert "try again in" in blocked.json()["detail"]


def test_the_right_password_works_once_the_delay_has_passed(
    app: Any, client: Any, tokens: Any
) -> None:
    for n in range(THROTTLE["account"].free + 1):
        _login(client, "nurse", f"wrong guess {n}")
    assert _login(client, "nurse", PASSWORD).status_code == 429
    _unblock(app)
    assert _login(client, "nurse", PASSWORD).status_code == 200  # and the counter is cleared
    assert _login(client, "nurse", "one more typo").status_code == 401


def test_one_address_spraying_many_accounts_is_throttled(client: Any, tokens: Any) -> None:
    free = THROTTLE["address"].free
    for n in range(free + 1):  # the failure after the free ones sets the first delay
        assert _login(client, f"user{n}", "password spray 1").status_code == 401
    assert _login(client, "someone.else", "password spray 1").status_code == 429
    assert _login(client, "admin", PASSWORD).status_code == 429  # the address is blocked


def test_the_throttle_is_shared_by_every_worker(db_url: str, tokens: Any, client: Any) -> None:
    """Two app instances (two workers) on one database see the same counters."""
    with TestClient(make_app(db_url)) as other_worker:
        for n in range(THROTTLE["account"].free + 1):
            clients = (client, other_worker)
            assert _login(clients[n % 2], "viewer", f"guess {n}").status_code == 401
        assert _login(client, "viewer", PASSWORD).status_code == 429
        assert _login(other_worker, "viewer", PASSWORD).status_code == 429


def test_an_attacker_cannot_lock_a_known_browser_out(app: Any, tokens: Any) -> None:
    """The browser that logged in as the user before (device cookie) is not held back by the
    failures of another client; the attacker's client is."""
    https = "https://testserver"  # production settings: the cookies are Secure
    with TestClient(app, base_url=https) as nurse_browser, TestClient(app) as attacker:
        assert web_login(nurse_browser, "nurse", PASSWORD).status_code == 303
        assert "inoplan_device" in nurse_browser.cookies
        for n in range(THROTTLE["account"].free + 2):
            _login(attacker, "nurse", f"guess {n}")
        assert _login(attacker, "nurse", PASSWORD).status_code == 429
        nurse_browser.post("/logout", data={"csrf_token": "x"})  # (form expired: harmless)
        assert web_login(nurse_browser, "nurse", PASSWORD).status_code == 303


def test_a_stolen_device_cookie_does_not_give_unlimited_guesses(app: Any, tokens: Any) -> None:
    with TestClient(app, base_url="https://testserver") as browser:
        assert web_login(browser, "nurse", PASSWORD).status_code == 303
        statuses = [
            web_login(browser, "nurse", f"guess {n}").status_code
            for n in range(THROTTLE["device"].free + 2)
        ]
        assert statuses[-1] == 429 and 401 in statuses
        page = web_login(browser, "nurse", PASSWORD)
        assert page.status_code == 429 and "Try again in" in page.text
        assert int(page.headers["Retry-After"]) >= 1


def test_a_device_cookie_of_another_user_or_forged_does_not_bypass(app: Any, tokens: Any) -> None:
    from inoplan.services.auth import device_id, issue_device_token

    secret = app.state.settings.secret
    token = issue_device_token("admin", secret=secret)
    assert device_id(token, "admin", secret=secret)
    assert device_id(token, "nurse", secret=secret) is None
    assert device_id(token, "admin", secret="another key entirely, 0123456789abcdef") is None
    assert device_id(token[:-3] + "abc", "admin", secret=secret) is None


@pytest.mark.parametrize("kind", sorted(THROTTLE))
def test_the_delay_grows_is_capped_and_leaks_away(kind: str) -> None:
    policy: ThrottlePolicy = THROTTLE[kind]
    now = datetime(2026, 12, 1, tzinfo=UTC)
    failures, last, blocks = 0, None, []
    for _ in range(policy.free + 30):
        failures, blocked = policy.step(failures, last, now)
        last = now
        blocks.append(None if blocked is None else (blocked - now).total_seconds())
    assert blocks[: policy.free] == [None] * policy.free
    delays = [b for b in blocks if b is not None]
    assert delays[0] == policy.first_delay_s
    assert delays == sorted(delays)  # never shorter
    assert max(delays) == policy.max_delay_s <= 15 * 60  # never a permanent lock-out
    # quiet time drains the bucket: a long pause brings the count back below the free level
    later = now + timedelta(seconds=policy.leak_every_s * (failures + 1))
    assert policy.step(failures, last, later) == (1, None)


def test_failed_logins_are_logged_without_the_password_and_audited(
    client: Any, tokens: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from inoplan.logs import JsonFormatter
    from inoplan.services.records import iter_audit

    caplog.set_level(logging.INFO)
    secret_typed = "Tr0ub4dor&3-not-it"
    assert _login(client, "pharmacist", secret_typed).status_code == 401
    assert _login(client, "no-such-user-x", "hunter2-typed-here").status_code == 401
    failed = [r for r in caplog.records if getattr(r, "event", None) == "auth.login_failed"]
    assert [getattr(r, "reason", None) for r in failed] == ["wrong_password", "unknown_user"]
    assert getattr(failed[0], "user", None) == "pharmacist"
    assert getattr(failed[1], "user", None) is None  # an unknown name is never logged as typed
    lines = [JsonFormatter().format(r) for r in caplog.records]
    everything = "\n".join(lines) + "\n".join(r.getMessage() for r in caplog.records)
    for typed in (secret_typed, "hunter2-typed-here", "no-such-user-x"):
        assert typed not in everything
    assert all(json.loads(line)["level"] for line in lines)
    audit = [r for r in iter_audit(client.app.state.database) if r.action == "auth.login_failed"]
    assert [(r.entity_id, (r.after or {}).get("reason")) for r in audit] == [
        ("pharmacist", "wrong_password"),
        (None, "unknown_user"),
    ]
    assert secret_typed not in json.dumps([r.after for r in audit])
    ok = _login(client, "pharmacist", PASSWORD)
    assert ok.status_code == 200
    assert any(r.action == "auth.login" for r in iter_audit(client.app.state.database))


def test_hashing_is_bounded_and_leaves_other_requests_served(
    client: Any, tokens: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fifty logins at once: at most HASH_SLOTS hashes run, the rest wait on the event loop
    (holding no thread), and meanwhile other requests, async and sync, are answered."""
    from inoplan.services import auth
    from inoplan.web import login as login_module

    monkeypatch.setattr(login_module, "MAX_WAITING", 1000)  # let them all queue
    release = threading.Event()
    lock = threading.Lock()
    state = {"running": 0, "peak": 0, "calls": 0}

    class SlowHasher:
        def verify(self, password: str, password_hash: str) -> bool:
            with lock:
                state["running"] += 1
                state["calls"] += 1
                state["peak"] = max(state["peak"], state["running"])
            release.wait(60)
            with lock:
                state["running"] -= 1
            return False

        def hash(self, password: str) -> str:
            return "x"

    monkeypatch.setattr(auth, "_hasher", lambda: SlowHasher())
    monkeypatch.setattr(auth, "_dummy_hash", lambda: "x")
    results: list[int] = []

    def attempt(n: int) -> None:
        results.append(_login(client, f"user{n}", "not the password").status_code)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(600):  # wait until the hash slots are taken
            if state["running"] >= auth.HASH_SLOTS:
                break
            threading.Event().wait(0.05)
        assert state["running"] == auth.HASH_SLOTS
        served: list[int] = []
        probe = threading.Thread(
            target=lambda: served.extend(
                [
                    client.get("/healthz").status_code,  # async path
                    client.get("/api/v1/me", headers=headers(tokens["viewer"])).status_code,
                ]
            )
        )
        probe.start()
        probe.join(60)  # liveness only: a starved thread pool would never answer
        assert served == [200, 200]
        assert state["running"] == auth.HASH_SLOTS  # still hashing: they were not waited for
    finally:
        release.set()
        for thread in threads:
            thread.join(60)
    assert state["peak"] == auth.HASH_SLOTS
    assert sorted(set(results)) <= [401, 429] and len(results) == 50


def test_a_burst_beyond_the_queue_is_told_to_come_back(
    client: Any, tokens: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inoplan.services import auth
    from inoplan.web import login as login_module

    monkeypatch.setattr(login_module, "MAX_WAITING", 0)
    release = threading.Event()
    entered = threading.Event()

    class BlockingHasher:
        def verify(self, password: str, password_hash: str) -> bool:
            entered.set()
            release.wait(60)
            return False

    monkeypatch.setattr(auth, "_hasher", lambda: BlockingHasher())
    monkeypatch.setattr(auth, "_dummy_hash", lambda: "x")
    monkeypatch.setattr(auth, "HASH_SLOTS", 1)
    monkeypatch.setattr(login_module, "HASH_SLOTS", 1)
    first: list[int] = []
    holder = threading.Thread(target=lambda: first.append(_login(client, "a", "b c").status_code))
    holder.start()
    try:
        assert entered.wait(60)
        busy = _login(client, "someone", "x y z")
        assert busy.status_code == 429 and busy.headers["Retry-After"] == "1"
        assert "busy" in busy.json()["detail"]
    finally:
        release.set()
        holder.join(60)
    assert first == [401]


def test_the_hash_slots_match_the_cpus() -> None:
    import os

    from inoplan.services.auth import HASH_SLOTS

    assert len(os.sched_getaffinity(0)) == HASH_SLOTS


def test_a_concurrent_burst_of_guesses_gets_no_more_tries_than_a_series(
    client: Any, tokens: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forty wrong passwords for one account at once: the throttle is checked again when a
    hash slot comes free, so only the free tries and those already hashing are checked."""
    from inoplan.services import auth
    from inoplan.web import login as login_module

    monkeypatch.setattr(login_module, "MAX_WAITING", 1000)
    lock = threading.Lock()
    hashed = [0]

    class CountingHasher:
        def verify(self, password: str, password_hash: str) -> bool:
            with lock:
                hashed[0] += 1
            threading.Event().wait(0.01)  # overlap the requests (not an assertion on time)
            return False

    monkeypatch.setattr(auth, "_hasher", lambda: CountingHasher())
    results: list[int] = []
    threads = [
        threading.Thread(
            target=lambda n=n: results.append(_login(client, "nurse", f"guess {n}").status_code)
        )
        for n in range(40)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    free = THROTTLE["account"].free
    assert len(results) == 40 and set(results) <= {401, 429}
    assert hashed[0] <= free + 1 + auth.HASH_SLOTS
    assert results.count(401) == hashed[0]
