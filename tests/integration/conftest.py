"""Integration fixtures: the same tests on SQLite (a file) and on PostgreSQL (marked)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _no_inoplan_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("INOPLAN_") and not name.startswith(
            ("INOPLAN_TEST_", "INOPLAN_REQUIRE_")
        ):
            monkeypatch.delenv(name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'records.db'}"
    else:
        yield request.getfixturevalue("postgres_schema_url")


@pytest.fixture
def database(database_url: str):  # type: ignore[no-untyped-def]
    from tests.integration.records_helpers import migrated_database

    db = migrated_database(database_url)
    yield db
    db.dispose()
