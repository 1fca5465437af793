"""Service settings: the only module that reads ``INOPLAN_*`` environment variables.

Nothing is read at import time: call :func:`get_settings` (cached) or build ``Settings(...)``
explicitly (tests do, so they never see the developer's environment).

Environment variables (prefix ``INOPLAN_``):

==========================  ==============================================================
``ENVIRONMENT``             ``development`` (default) or ``production``
``DATABASE_URL``            default ``sqlite:///./inoplan.db``; PostgreSQL as
                            ``postgresql+psycopg://USER@HOST:PORT/DB``
``SECRET_KEY``              signs bearer tokens and web sessions; required outside development,
                            where a weak key is refused (:func:`secret_weakness`); in
                            development ``inoplan serve`` keeps one in ``INSTANCE_PATH``
``AUDIT_KEY``               keys the audit trail's HMAC chain (kept outside the database);
                            required outside development (or ``AUDIT_KEY_FILE``), where a
                            weak key is refused; in development one is kept in
                            ``INSTANCE_PATH/audit_key``
``AUDIT_KEY_FILE``          a file holding the audit key (a mounted secret), instead of
                            ``AUDIT_KEY``
``INSTANCE_PATH``           folder for files the service keeps (default ``./instance``)
``PUBLIC_URL``              the service's public base URL (``https://inoplan.example.org``):
                            the CDS Hooks audience and links; never taken from request headers
``FORWARDED_ALLOW_IPS``     proxies whose ``X-Forwarded-For``/``-Proto`` are believed (default:
                            none); comma-separated addresses or ``*``
``HOST``, ``PORT``, ``WORKERS``  what ``inoplan serve`` listens on (default 127.0.0.1, 8000, 1)
``MAX_BODY_BYTES``          largest request body accepted (default 2 MiB; larger: 413)
``METRICS_TOKEN``           bearer token for ``GET /metrics`` (unset: no metrics endpoint)
``LOG_FORMAT``              ``json`` (default: one JSON object per line) or ``text``
``TOKEN_MINUTES``           bearer token lifetime in minutes (default 60)
``DEMO``                    seed demo courses into an empty database (``serve --demo``)
``DEMO_PASSWORD``           password of the demo ``admin`` user (else one is printed once)
``CDS_ISSUERS``             path of the TOML file listing trusted CDS Hooks issuers
``SITE_POLICY``             site policy TOML (as the CLI's ``--site-policy``)
``CLINIC_TIMEZONE``         IANA zone that defines "today" for the service (default ``UTC``)
``LOG_LEVEL``               default ``INFO``
==========================  ==============================================================
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import secrets
from collections import Counter
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "PLACEHOLDER_SECRETS",
    "Settings",
    "get_settings",
    "instance_secret",
    "secret_weakness",
]

#: Where the development audit key is kept, in the instance folder.
AUDIT_KEY_FILE_NAME = "audit_key"

#: Values that are refused as a secret key outside development (compared case-insensitively).
PLACEHOLDER_SECRETS = frozenset(
    {
        "",
        "changeme",
        "change-me",
        "change_me",
        "secret",
        "secret-key",
        "secretkey",
        "password",
        "dev",
        "development",
        "test",
        "insecure",
        "please-change-me",
        "your-secret-key",
        "xxx",
    }
)
MIN_SECRET_LENGTH = 32
MIN_SECRET_BITS = 128
#: Words that betray a key typed by hand (compared case-insensitively, anywhere in the key).
_PLACEHOLDER_WORDS = (
    "changeme",
    "change-me",
    "change_me",
    "secret",
    "password",
    "example",
    "placeholder",
    "insecure",
    "default",
    "replace",
    "change",
    "please",
)
_RUNS = ("abcdefghijklmnopqrstuvwxyz", "0123456789", "qwertyuiopasdfghjklzxcvbnm")


def secret_weakness(secret: str) -> str | None:
    """Why ``secret`` is too weak to sign tokens, or None.

    A key must be at least 32 characters, hold no placeholder word, use at least 10 different
    characters, carry at least 128 bits by its character frequencies (Shannon), repeat no run of
    8 characters and contain no 8-character alphabet, digit or keyboard run. A key from
    ``python -c 'import secrets; print(secrets.token_urlsafe(48))'`` or ``openssl rand -hex 32``
    passes.

    >>> secret_weakness("changeme") is not None, secret_weakness("ab" * 24) is not None
    (True, True)
    """
    lowered = secret.strip().lower()
    if lowered in PLACEHOLDER_SECRETS or any(word in lowered for word in _PLACEHOLDER_WORDS):
        return "is a placeholder"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"is shorter than {MIN_SECRET_LENGTH} characters"
    counts = Counter(secret)
    if len(counts) < 10:
        return "uses fewer than 10 different characters"
    bits = -sum(n * math.log2(n / len(secret)) for n in counts.values())
    if bits < MIN_SECRET_BITS:
        return f"carries about {bits:.0f} bits, fewer than {MIN_SECRET_BITS}"
    seen: set[str] = set()
    for i in range(len(secret) - 7):
        chunk = secret[i : i + 8]
        if chunk in seen:
            return "repeats a sequence of characters"
        seen.add(chunk)
        low = chunk.lower()
        if any(low in run * 2 or low[::-1] in run * 2 for run in _RUNS):
            return "contains an alphabet, digit or keyboard run"
    return None


def instance_secret(folder: Path, name: str = "secret_key") -> str:
    """The development key kept in ``folder/secret_key`` (created on first use, mode 0600).

    Every worker and every restart of ``inoplan serve`` then signs with the same key, so
    sessions survive a restart and any worker accepts any other's tokens. Refuses a key file
    that others may read. ``name`` picks another key file (``audit_key``).
    """
    path = folder / name
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        temporary = folder / f".{name}.{os.getpid()}.{secrets.token_hex(4)}"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                handle.write(secrets.token_urlsafe(48) + "\n")
            with contextlib.suppress(FileExistsError):  # another process may have won the race
                os.link(temporary, path)  # atomic: the key appears whole or not at all
        finally:
            temporary.unlink(missing_ok=True)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise PermissionError(
            f"{path} may be read by others (mode {mode:o}); run: chmod 600 {path}"
        )
    secret = path.read_text(encoding="ascii").strip()
    weakness = secret_weakness(secret)
    if weakness is not None:
        raise ValueError(f"the key in {path} {weakness}; delete the file to draw a new one")
    return secret


class Settings(BaseSettings):
    """Configuration of the service, the CLI's database commands and the web UI."""

    model_config = SettingsConfigDict(env_prefix="INOPLAN_", extra="ignore", frozen=True)

    environment: Literal["development", "production"] = "development"
    database_url: str = "sqlite:///./inoplan.db"
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs bearer tokens. In development `inoplan serve` keeps a key in the "
        "instance folder when unset; other callers get a random key per Settings object.",
    )
    instance_path: Path = Path("instance")
    #: Keys the audit trail's HMAC chain; never stored in the database (docs/deployment.md).
    audit_key: SecretStr | None = None
    #: A file holding the audit key (a mounted secret), instead of ``audit_key``.
    audit_key_file: Path | None = None
    #: The service's public base URL; the CDS Hooks audience and links are built from it.
    public_url: str | None = None
    #: Proxies (comma-separated addresses, or ``*``) whose X-Forwarded-* headers are believed.
    forwarded_allow_ips: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    metrics_token: SecretStr | None = None
    log_format: Literal["json", "text"] = "json"
    token_minutes: int = Field(default=60, ge=1, le=24 * 60)
    demo: bool = False
    demo_password: SecretStr | None = None
    cds_issuers: Path | None = None
    #: Site policy TOML (rounding, freshness), the same file the CLI's --site-policy reads.
    site_policy: Path | None = None
    clinic_timezone: str = "UTC"
    log_level: str = "INFO"
    #: Connection pool size per worker process (PostgreSQL).
    pool_size: int = Field(default=10, ge=1, le=200)

    @field_validator("clinic_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "sqlite+pysqlite://", "postgresql")):
            raise ValueError("database_url must be a sqlite:// or postgresql+psycopg:// URL")
        return value

    _ephemeral_secret: str = PrivateAttr(default_factory=lambda: secrets.token_urlsafe(48))

    @field_validator(
        "secret_key",
        "metrics_token",
        "demo_password",
        "forwarded_allow_ips",
        "audit_key",
        "audit_key_file",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """``INOPLAN_X=`` (empty, as compose writes an unset variable) means "not set", never
        an empty secret that anyone could match."""
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, SecretStr) and not value.get_secret_value().strip():
            return None
        return value

    @field_validator("public_url")
    @classmethod
    def _plain_base_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "public_url must be an http(s) URL such as https://inoplan.example.org"
            )
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("public_url must have no query, fragment or user name")
        return value.strip().rstrip("/")

    @model_validator(mode="after")
    def _refuse_weak_secrets(self) -> Settings:
        how = (
            f"use at least {MIN_SECRET_LENGTH} random characters (python -c 'import secrets; "
            "print(secrets.token_urlsafe(48))')"
        )
        if self.environment == "development":
            return self
        if self.secret_key is None:
            raise ValueError(f"INOPLAN_SECRET_KEY is required outside development; {how}")
        weakness = secret_weakness(self.secret_key.get_secret_value())
        if weakness is not None:
            raise ValueError(f"INOPLAN_SECRET_KEY {weakness}; {how}")
        if self.audit_key is not None:
            weakness = secret_weakness(self.audit_key.get_secret_value())
            if weakness is not None:
                raise ValueError(f"INOPLAN_AUDIT_KEY {weakness}; {how}")
            if self.audit_key.get_secret_value() == self.secret_key.get_secret_value():
                raise ValueError(
                    "INOPLAN_AUDIT_KEY must differ from INOPLAN_SECRET_KEY (a leaked token key "
                    "must not let anyone rewrite the audit trail)"
                )
        if self.metrics_token is not None:
            weakness = secret_weakness(self.metrics_token.get_secret_value())
            if weakness is not None:
                raise ValueError(f"INOPLAN_METRICS_TOKEN {weakness}; {how}")
        if self.public_url is not None:
            parts = urlsplit(self.public_url)
            if parts.scheme != "https" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
                raise ValueError("INOPLAN_PUBLIC_URL must use https in production")
        if self.cds_issuers is not None and self.public_url is None:
            raise ValueError(
                "INOPLAN_PUBLIC_URL is required with INOPLAN_CDS_ISSUERS: the CDS Hooks "
                "audience is built from it, never from request headers"
            )
        return self

    @property
    def secret(self) -> str:
        """The secret key as plain text: the configured one, else (development only) a random
        key drawn for this Settings object."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        return self._ephemeral_secret

    @property
    def secret_is_ephemeral(self) -> bool:
        """True when no key was configured (development): tokens die with the process."""
        return self.secret_key is None

    def resolve_audit_key(self) -> bytes:
        """The audit trail's HMAC key: ``audit_key`` or the file ``audit_key_file``, else
        (development only) the key kept in ``instance_path/audit_key``.

        Both sources get the same checks: outside development a weak key, or one equal to the
        token key (``INOPLAN_SECRET_KEY``), is refused. Both set with different keys is refused
        too (which one keys the chain would be a guess); both set with one key is accepted.

        Raises ``ValueError`` outside development when neither is configured or the key is weak
        or equals the token key, and ``PermissionError`` for a key file that others may read.
        """
        how = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
        from_env = self.audit_key.get_secret_value() if self.audit_key is not None else None
        path = self.audit_key_file
        from_file = _private_key_file(path) if path is not None else None
        if from_env is not None and from_file is not None and from_env != from_file:
            raise ValueError(
                f"INOPLAN_AUDIT_KEY and INOPLAN_AUDIT_KEY_FILE ({path}) hold "
                "different keys; set only one of them (one key keys the audit chain)"
            )
        key = from_env if from_env is not None else from_file
        if key is None:
            if self.environment != "development":
                raise ValueError(
                    "INOPLAN_AUDIT_KEY (or INOPLAN_AUDIT_KEY_FILE) is required outside "
                    "development: it keys the audit trail's HMAC chain and must be kept outside "
                    f"the database; {how}"
                )
            return instance_secret(self.instance_path, AUDIT_KEY_FILE_NAME).encode("utf-8")
        if self.environment != "development":
            where = "INOPLAN_AUDIT_KEY" if from_env is not None else f"the audit key in {path}"
            weakness = secret_weakness(key)
            if weakness is not None:
                raise ValueError(f"{where} {weakness}; draw one with {how}")
            if self.secret_key is not None and key == self.secret_key.get_secret_value():
                raise ValueError(
                    f"{where} must differ from INOPLAN_SECRET_KEY (a leaked token key must not "
                    "let anyone rewrite the audit trail)"
                )
        return key.encode("utf-8")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@functools.cache
def get_settings() -> Settings:
    """The settings from the environment, read once per process."""
    return Settings()


def _private_key_file(path: Path) -> str:
    """The key in ``path``, refused when anyone may read the file."""
    mode = path.stat().st_mode & 0o777
    if mode & 0o007:
        raise PermissionError(
            f"{path} may be read by anyone (mode {mode:o}); run: chmod 600 {path}"
        )
    return path.read_text(encoding="utf-8").strip()
