"""Finding 2: logout, deactivation, a password change and a role change end every web session
and bearer token of the user at once, on every worker; admins do it in the API, anyone with
the database in the CLI; every change is audited."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from inoplan.services import auth
from tests.integration.records_helpers import PASSWORD, headers
from tests.security.security_helpers import make_app, web_login

HTTPS = "https://testserver"  # production settings: the session cookie is Secure
ME = "/api/v1/me"


def _ok(client: Any, token: str) -> bool:
    return bool(client.get(ME, headers=headers(token)).status_code == 200)


def _web_ok(browser: Any) -> bool:
    page = browser.get("/", follow_redirects=False)
    return bool(page.status_code == 200)


def _api_token(client: Any, username: str, password: str = PASSWORD) -> str:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_web_logout_ends_the_session_and_the_users_tokens(app: Any, tokens: Any) -> None:
    with TestClient(app, base_url=HTTPS) as browser, TestClient(app) as api:
        token = _api_token(api, "nurse")
        assert web_login(browser, "nurse", PASSWORD).status_code == 303
        stolen = dict(browser.cookies)  # a copy of the session cookie, taken before logout
        assert _web_ok(browser)
        page = browser.get("/")
        from tests.security.security_helpers import CSRF

        csrf = CSRF.search(page.text)
        assert csrf is not None
        assert browser.post("/logout", data={"csrf_token": csrf.group(1)}).status_code == 200
        assert not _web_ok(browser)
        with TestClient(app, base_url=HTTPS, cookies=stolen) as replay:
            assert not _web_ok(replay)  # the old cookie no longer opens anything
        assert not _ok(api, token)  # nor do the user's bearer tokens
        assert _ok(api, tokens["viewer"])  # other users are not affected


def test_api_logout_ends_every_token_and_web_session(app: Any, tokens: Any) -> None:
    with TestClient(app, base_url=HTTPS) as browser, TestClient(app) as api:
        first, second = _api_token(api, "prescriber"), _api_token(api, "prescriber")
        assert web_login(browser, "prescriber", PASSWORD).status_code == 303
        assert api.post("/api/v1/auth/logout", headers=headers(first)).status_code == 204
        assert not _ok(api, first) and not _ok(api, second)
        assert not _web_ok(browser)
        fresh = _api_token(api, "prescriber")  # logging in again works
        assert _ok(api, fresh)


CHANGES: dict[str, Callable[[Any, Any], Any]] = {
    "deactivate": lambda api, admin: api.patch(
        "/api/v1/users/nurse", json={"active": False}, headers=headers(admin)
    ),
    "role": lambda api, admin: api.patch(
        "/api/v1/users/nurse", json={"role": "viewer"}, headers=headers(admin)
    ),
    "password": lambda api, admin: api.put(
        "/api/v1/users/nurse/password",
        json={"password": "a fresh passphrase 9"},
        headers=headers(admin),
    ),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_an_admin_change_revokes_the_users_sessions_on_every_worker(
    db_url: str, change: str, tokens: Any, client: Any
) -> None:
    """The change goes through one worker; the token is refused by another at once."""
    with TestClient(make_app(db_url)) as other_worker:
        token = _api_token(client, "nurse")
        assert _ok(other_worker, token)
        response = CHANGES[change](client, tokens["admin"])
        assert response.status_code in (200, 204), response.text
        assert not _ok(other_worker, token)
        assert not _ok(client, token)
    from inoplan.services.records import iter_audit

    actions = [r.action for r in iter_audit(client.app.state.database) if r.entity_id == "nurse"]
    expected = {"deactivate": "user.deactivate", "role": "user.role", "password": "user.password"}
    assert expected[change] in actions


def test_a_password_reset_lets_the_new_password_in_and_keeps_the_old_out(
    client: Any, tokens: Any
) -> None:
    change = CHANGES["password"](client, tokens["admin"])
    assert change.status_code == 204
    assert (
        client.post(
            "/api/v1/auth/token", data={"username": "nurse", "password": PASSWORD}
        ).status_code
        == 401
    )
    assert _ok(client, _api_token(client, "nurse", "a fresh passphrase 9"))


def test_a_deactivated_user_cannot_log_in_and_a_reactivated_one_can(
    client: Any, tokens: Any
) -> None:
    admin = headers(tokens["admin"])
    assert (
        client.patch("/api/v1/users/nurse", json={"active": False}, headers=admin).json()["active"]
        is False
    )
    assert (
        client.post(
            "/api/v1/auth/token", data={"username": "nurse", "password": PASSWORD}
        ).status_code
        == 401
    )
    assert client.patch("/api/v1/users/nurse", json={"active": True}, headers=admin).json()[
        "active"
    ]
    assert _ok(client, _api_token(client, "nurse"))


def test_only_admins_manage_users_and_the_last_admin_stays(client: Any, tokens: Any) -> None:
    body = {"role": "viewer"}
    for role in ("prescriber", "pharmacist", "nurse", "viewer"):
        refused = client.patch("/api/v1/users/nurse", json=body, headers=headers(tokens[role]))
        assert refused.status_code == 403
    admin = headers(tokens["admin"])
    assert (
        client.patch("/api/v1/users/admin", json={"role": "viewer"}, headers=admin).status_code
        == 409
    )
    assert (
        client.patch("/api/v1/users/admin", json={"active": False}, headers=admin).status_code
        == 409
    )
    assert _ok(client, tokens["admin"])  # a refused change ends no session
    unknown = client.patch("/api/v1/users/ghost", json=body, headers=admin)
    assert unknown.status_code == 404
    bad = client.patch("/api/v1/users/nurse", json={"role": "surgeon"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["field"] == "role"
    empty = client.patch("/api/v1/users/nurse", json={}, headers=admin)
    assert empty.status_code == 422


def test_an_admin_unlocks_a_throttled_account(client: Any, tokens: Any) -> None:
    for n in range(auth.THROTTLE["account"].free + 1):
        client.post("/api/v1/auth/token", data={"username": "viewer", "password": f"guess {n}"})
    assert (
        client.post(
            "/api/v1/auth/token", data={"username": "viewer", "password": PASSWORD}
        ).status_code
        == 429
    )
    unlocked = client.delete("/api/v1/users/viewer/throttle", headers=headers(tokens["admin"]))
    assert unlocked.status_code == 204
    assert (
        client.post(
            "/api/v1/auth/token", data={"username": "viewer", "password": PASSWORD}
        ).status_code
        == 200
    )


# -- the command line ------------------------------------------------------------------------


def _cli(url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INOPLAN_")}
    env["INOPLAN_DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "inoplan", "user", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_the_cli_deactivates_resets_passwords_and_changes_roles(
    db_url: str, client: Any, tokens: Any
) -> None:
    from inoplan.services.records import iter_audit

    token = _api_token(client, "pharmacist")
    role = _cli(db_url, "role", "pharmacist", "nurse")
    assert role.returncode == 0, role.stderr
    assert not _ok(client, token)
    me = client.get(ME, headers=headers(_api_token(client, "pharmacist"))).json()
    assert me["role"] == "nurse"

    token = _api_token(client, "pharmacist")
    for n, command in enumerate(("passwd", "reset-password")):
        new_password = f"violet harbour lamp {n}"
        changed = _cli(db_url, command, "pharmacist", stdin=new_password + "\n")
        assert changed.returncode == 0, changed.stderr
        assert new_password not in changed.stdout + changed.stderr
        assert not _ok(client, token)
        token = _api_token(client, "pharmacist", new_password)

    weak = _cli(db_url, "passwd", "pharmacist", stdin="password123\n")
    assert weak.returncode == 2 and "password" in weak.stderr
    assert _ok(client, token)  # a refused change changes nothing

    off = _cli(db_url, "deactivate", "pharmacist")
    assert off.returncode == 0, off.stderr
    assert not _ok(client, token)
    assert _cli(db_url, "activate", "pharmacist").returncode == 0
    assert _cli(db_url, "deactivate", "ghost").returncode == 2
    assert _cli(db_url, "deactivate", "admin").returncode == 2  # the last administrator
    assert _cli(db_url, "unlock", "pharmacist").returncode == 0

    actions = [
        (r.actor, r.action)
        for r in iter_audit(client.app.state.database)
        if r.entity_id == "pharmacist"
    ]
    for action in ("user.role", "user.password", "user.deactivate", "user.activate", "user.unlock"):
        assert ("cli", action) in actions
    assert all("violet" not in str(r.after) for r in iter_audit(client.app.state.database))
