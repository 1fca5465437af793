"""Settings: environment prefix, placeholder secrets refused outside development."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from inoplan.config import Settings


def test_defaults_are_safe_for_local_use(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.environment == "development"
    assert settings.database_url == "sqlite:///./inoplan.db"
    assert len(settings.secret) >= 32  # a random per-process key when none is configured
    assert Settings().secret != settings.secret


@pytest.mark.parametrize("secret", ["changeme", "CHANGE-ME", "secret", "short-but-random-x"])
def test_placeholder_or_short_secrets_are_refused_in_production(
    monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    monkeypatch.setenv("INOPLAN_ENVIRONMENT", "production")
    monkeypatch.setenv("INOPLAN_SECRET_KEY", secret)
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings()


def test_production_needs_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INOPLAN_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="required"):
        Settings()


def test_the_environment_is_read_with_the_inoplan_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INOPLAN_ENVIRONMENT", "production")
    monkeypatch.setenv("INOPLAN_SECRET_KEY", "Zq3v9Lw2Tn8Xb4Rm6Yc1Hp5Kd7Fg0Js2Qa9Wu3Ee8Oi4Ly6")
    monkeypatch.setenv("INOPLAN_PUBLIC_URL", "https://inoplan.example.org/")
    monkeypatch.setenv("INOPLAN_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    monkeypatch.setenv("INOPLAN_TOKEN_MINUTES", "15")
    monkeypatch.setenv("INOPLAN_CDS_ISSUERS", "/etc/inoplan/issuers.toml")
    settings = Settings()
    assert settings.token_minutes == 15 and not settings.is_sqlite
    assert str(settings.cds_issuers) == "/etc/inoplan/issuers.toml"
    assert settings.public_url == "https://inoplan.example.org"


def test_an_unknown_database_or_time_zone_is_refused() -> None:
    with pytest.raises(ValidationError, match="database_url"):
        Settings(database_url="mysql://x")
    with pytest.raises(ValidationError, match="time zone"):
        Settings(clinic_timezone="Mars/Olympus")
