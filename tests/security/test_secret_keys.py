"""Finding 6 and 7 (keys): one key for every worker in development, kept across restarts in the
instance folder (0600); production refuses weak or placeholder keys."""

from __future__ import annotations

import os
import stat
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from inoplan.config import Settings, instance_secret, secret_weakness
from tests.integration.records_helpers import AUDIT_KEY, add_users
from tests.security.security_helpers import free_port, serve, stop

STRONG = "Zq3v9Lw2Tn8Xb4Rm6Yc1Hp5Kd7Fg0Js2Qa9Wu3Ee8Oi4Ly6"

WEAK = {
    "empty": "",
    "placeholder": "changeme",
    "placeholder, capitals": "CHANGE-ME",
    "short random": "Zq3v9Lw2Tn8Xb4Rm6Yc1",
    "31 characters": STRONG[:31],
    "one character repeated": "r" * 48,
    "two characters": "ab" * 24,
    "nine characters": "abcdefghi" * 6,
    "a placeholder inside": "my-secret-key-for-inoplan-production-2026",
    "please change": "please-change-this-to-something-random-123",
    "example": "example-key-0123456789-abcdefghij-klmnopq",
    "digits run": "0123456789" * 4,
    "alphabet run": "abcdefghijklmnopqrstuvwxyz0123456",
    "keyboard run": "qwertyuiopasdfghjklzxcvbnm1234567",
    "repeated block": "Zq3v9Lw2Tn" * 4,
    "repeated half": STRONG[:20] * 2,
}


@pytest.mark.parametrize("secret", WEAK.values(), ids=list(WEAK))
def test_production_refuses_weak_keys(secret: str) -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(environment="production", secret_key=SecretStr(secret))


@pytest.mark.parametrize("maker", ["token_urlsafe", "token_hex", "strong"])
def test_production_accepts_generated_keys(maker: str) -> None:
    import secrets

    key = {
        "token_urlsafe": lambda: secrets.token_urlsafe(48),
        "token_hex": lambda: secrets.token_hex(32),
        "strong": lambda: STRONG,
    }[maker]()
    assert secret_weakness(key) is None
    assert Settings(environment="production", secret_key=SecretStr(key)).secret == key


def test_a_weak_metrics_token_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="METRICS_TOKEN"):
        Settings(
            environment="production",
            secret_key=SecretStr(STRONG),
            metrics_token=SecretStr("metrics"),
        )


def test_the_instance_key_is_created_private_and_kept(tmp_path: Path) -> None:
    folder = tmp_path / "instance"
    first = instance_secret(folder)
    assert secret_weakness(first) is None
    path = folder / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert instance_secret(folder) == first  # a restart keeps it


def test_a_key_file_others_may_read_is_refused(tmp_path: Path) -> None:
    instance_secret(tmp_path)
    (tmp_path / "secret_key").chmod(0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        instance_secret(tmp_path)


def test_a_weak_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    path.write_text("changeme\n")
    path.chmod(0o600)
    with pytest.raises(ValueError, match="placeholder"):
        instance_secret(tmp_path)


def _draw(folder: str) -> str:
    return instance_secret(Path(folder))


def test_workers_starting_together_all_get_one_key(tmp_path: Path) -> None:
    folder = str(tmp_path / "instance")
    with ProcessPoolExecutor(4) as pool:
        keys = set(pool.map(_draw, [folder] * 8))
    assert len(keys) == 1
    assert [p.name for p in Path(folder).iterdir()] == ["secret_key"]  # no temporary left


def test_a_plain_settings_object_still_works_without_a_key() -> None:
    settings = Settings()
    assert settings.secret_is_ephemeral and secret_weakness(settings.secret) is None
    assert settings.secret == settings.secret


def _dev_env(url: str, instance: Path, port: int) -> dict[str, str]:
    return {
        "INOPLAN_ENVIRONMENT": "development",
        "INOPLAN_DATABASE_URL": url,
        "INOPLAN_INSTANCE_PATH": str(instance),
        "INOPLAN_PORT": str(port),
        "INOPLAN_LOG_LEVEL": "WARNING",
    }


@pytest.mark.postgres
def test_two_dev_workers_share_one_key_and_a_restart_keeps_sessions(
    postgres_schema_url: str, tmp_path: Path
) -> None:
    """Without INOPLAN_SECRET_KEY: every request on a fresh connection (any worker) accepts
    the token, and so does the restarted service."""
    from tests.integration.records_helpers import migrated_database

    database = migrated_database(postgres_schema_url)
    add_users(database)
    database.dispose()
    port = free_port()
    env = _dev_env(postgres_schema_url, tmp_path / "instance", port)
    argv = [sys.executable, "-m", "inoplan", "serve", "--workers", "2"]
    log = tmp_path / "serve.log"
    server = serve(argv, env, log, port=port)
    base = f"http://127.0.0.1:{port}"
    try:
        token = httpx.post(
            f"{base}/api/v1/auth/token",
            data={"username": "nurse", "password": "correct horse battery staple"},
            timeout=30,
        ).json()["access_token"]
        statuses = [
            httpx.get(  # a new connection each time: spread over the workers
                f"{base}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=30
            ).status_code
            for _ in range(40)
        ]
        assert statuses == [200] * 40
    finally:
        stop(server)
    key_file = tmp_path / "instance" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    server = serve(argv, env, log, port=port)
    try:
        again = httpx.get(
            f"{base}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        assert again.status_code == 200  # the restart kept the key, so the session
    finally:
        stop(server)


@pytest.mark.postgres
def test_several_dev_workers_without_a_usable_key_folder_refuse_to_start(
    postgres_schema_url: str, tmp_path: Path
) -> None:
    import subprocess

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the instance folder should be")
    env = {k: v for k, v in os.environ.items() if not k.startswith("INOPLAN_")}
    env.update(_dev_env(postgres_schema_url, blocked / "instance", free_port()))
    done = subprocess.run(
        [sys.executable, "-m", "inoplan", "serve", "--workers", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "INOPLAN_SECRET_KEY" in done.stderr


def test_json_serve_logs_are_one_object_per_line(tmp_path: Path) -> None:
    import json

    port = free_port()
    env = {
        "INOPLAN_ENVIRONMENT": "production",
        "INOPLAN_SECRET_KEY": STRONG,
        "INOPLAN_AUDIT_KEY": AUDIT_KEY,
        "INOPLAN_DATABASE_URL": f"sqlite:///{tmp_path / 'logs.db'}",
        "INOPLAN_PORT": str(port),
    }
    log = tmp_path / "serve.log"
    server = serve([sys.executable, "-m", "inoplan", "serve"], env, log, port=port)
    try:
        httpx.get(f"http://127.0.0.1:{port}/api/v1/patients/%0d%0aFORGED", timeout=10)
        httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
    finally:
        stop(server)
    lines = [line for line in log.read_text().splitlines() if line.startswith("{")]
    records: list[dict[str, Any]] = [json.loads(line) for line in lines]
    access = [r for r in records if r["logger"] == "inoplan.access"]
    assert {"method", "route", "status", "duration_ms"} <= set(access[0])
    assert {r["route"] for r in access} >= {"/readyz", "/api/v1/patients/{patient_key}"}
    assert "FORGED" not in log.read_text()
    assert not [line for line in log.read_text().splitlines() if "FORGED" in line]


# -- the audit (HMAC) key ----------------------------------------------------------------------


def test_production_needs_an_audit_key_outside_the_database(tmp_path: Path) -> None:
    settings = Settings(
        environment="production", secret_key=SecretStr(STRONG), instance_path=tmp_path
    )
    with pytest.raises(ValueError, match="INOPLAN_AUDIT_KEY"):
        settings.resolve_audit_key()
    assert not (tmp_path / "audit_key").exists()  # never drawn silently in production
    keyed = Settings(
        environment="production", secret_key=SecretStr(STRONG), audit_key=SecretStr(AUDIT_KEY)
    )
    assert keyed.resolve_audit_key() == AUDIT_KEY.encode()


@pytest.mark.parametrize(
    "secret", [WEAK[k] for k in ("placeholder", "short random", "two characters", "repeated block")]
)
def test_production_refuses_a_weak_audit_key(secret: str) -> None:
    with pytest.raises(ValidationError, match="AUDIT_KEY"):
        Settings(
            environment="production", secret_key=SecretStr(STRONG), audit_key=SecretStr(secret)
        )


def test_the_audit_key_must_differ_from_the_token_key() -> None:
    with pytest.raises(ValidationError, match="must differ"):
        Settings(
            environment="production", secret_key=SecretStr(STRONG), audit_key=SecretStr(STRONG)
        )


def test_an_audit_key_file_is_read_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "audit.key"
    path.write_text(AUDIT_KEY + "\n")
    path.chmod(0o600)
    settings = Settings(environment="production", secret_key=SecretStr(STRONG), audit_key_file=path)
    assert settings.resolve_audit_key() == AUDIT_KEY.encode()
    path.chmod(0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        settings.resolve_audit_key()
    path.write_text("changeme-changeme-changeme-changeme\n")
    path.chmod(0o600)
    with pytest.raises(ValueError, match="audit key"):
        settings.resolve_audit_key()


def _key_file(tmp_path: Path, key: str) -> Path:
    path = tmp_path / "audit.key"
    path.write_text(key + "\n")
    path.chmod(0o600)
    return path


def test_an_audit_key_file_must_differ_from_the_token_key(tmp_path: Path) -> None:
    """The file gets the check the variable gets (it skipped it)."""
    settings = Settings(
        environment="production",
        secret_key=SecretStr(STRONG),
        audit_key_file=_key_file(tmp_path, STRONG),
    )
    with pytest.raises(ValueError, match=r"audit key in .*audit\.key must differ from"):
        settings.resolve_audit_key()


def test_the_audit_key_variable_and_file_with_different_keys_are_refused(tmp_path: Path) -> None:
    """Which one keys the chain would be a guess (the variable won silently)."""
    other = STRONG[::-1]
    both = Settings(
        environment="production",
        secret_key=SecretStr(other),
        audit_key=SecretStr(AUDIT_KEY),
        audit_key_file=_key_file(tmp_path, AUDIT_KEY[:-1] + "X"),
    )
    with pytest.raises(ValueError, match="hold different keys; set only one of them"):
        both.resolve_audit_key()
    same = Settings(
        environment="production",
        secret_key=SecretStr(other),
        audit_key=SecretStr(AUDIT_KEY),
        audit_key_file=_key_file(tmp_path, AUDIT_KEY),
    )
    assert same.resolve_audit_key() == AUDIT_KEY.encode()
    development = Settings(
        audit_key=SecretStr(AUDIT_KEY), audit_key_file=_key_file(tmp_path, AUDIT_KEY + "Z")
    )
    with pytest.raises(ValueError, match="different keys"):
        development.resolve_audit_key()


def test_development_keeps_one_audit_key_in_the_instance_folder(tmp_path: Path) -> None:
    first = Settings(instance_path=tmp_path).resolve_audit_key()
    assert Settings(instance_path=tmp_path).resolve_audit_key() == first
    assert stat.S_IMODE((tmp_path / "audit_key").stat().st_mode) == 0o600
    assert secret_weakness(first.decode()) is None


def test_serve_refuses_to_start_in_production_without_an_audit_key(tmp_path: Path) -> None:
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("INOPLAN_")}
    env.update(
        INOPLAN_ENVIRONMENT="production",
        INOPLAN_SECRET_KEY=STRONG,
        INOPLAN_DATABASE_URL=f"sqlite:///{tmp_path / 'nokey.db'}",
        INOPLAN_PORT=str(free_port()),
    )
    done = subprocess.run(
        [sys.executable, "-m", "inoplan", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "INOPLAN_AUDIT_KEY" in done.stderr
