"""Service settings: the only module that reads ``INOPLAN_*`` environment variables.

Nothing is read at import time: call :func:`get_settings` (cached) or build ``Settings(...)``
explicitly (tests do, so they never see the developer's environment).

Environment variables (prefix ``INOPLAN_``):

==========================  ==============================================================
``ENVIRONMENT``             ``development`` (default) or ``production``
``DATABASE_URL``            default ``sqlite:///./inoplan.db``; PostgreSQL as
                            ``postgresql+psycopg://USER@HOST:PORT/DB``
``SECRET_KEY``              signs bearer tokens and web sessions; required outside development
                            (at least 32 characters, never a placeholder such as ``changeme``)
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

import functools
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["PLACEHOLDER_SECRETS", "Settings", "get_settings"]

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


class Settings(BaseSettings):
    """Configuration of the service, the CLI's database commands and the web UI."""

    model_config = SettingsConfigDict(env_prefix="INOPLAN_", extra="ignore", frozen=True)

    environment: Literal["development", "production"] = "development"
    database_url: str = "sqlite:///./inoplan.db"
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs bearer tokens. In development a random per-process key is used "
        "when unset (tokens then stop working when the process restarts).",
    )
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

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        secret = self.secret_key.get_secret_value() if self.secret_key is not None else None
        if self.environment != "development":
            if secret is None:
                raise ValueError(
                    "INOPLAN_SECRET_KEY is required outside development "
                    f"(at least {MIN_SECRET_LENGTH} random characters)"
                )
            if secret.strip().lower() in PLACEHOLDER_SECRETS or len(secret) < MIN_SECRET_LENGTH:
                raise ValueError(
                    "INOPLAN_SECRET_KEY is a placeholder or too short; use at least "
                    f"{MIN_SECRET_LENGTH} random characters (python -c 'import secrets; "
                    "print(secrets.token_urlsafe(48))')"
                )
        if secret is None:
            # Development only: a random key for this process (frozen model: object.__setattr__).
            object.__setattr__(self, "secret_key", SecretStr(secrets.token_urlsafe(48)))
        return self

    @property
    def secret(self) -> str:
        """The secret key as plain text (always set after validation)."""
        assert self.secret_key is not None  # invariant established by the validator
        return self.secret_key.get_secret_value()

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@functools.cache
def get_settings() -> Settings:
    """The settings from the environment, read once per process."""
    return Settings()
