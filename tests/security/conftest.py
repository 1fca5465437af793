"""Security tests: an app on a throwaway SQLite file, one user per role (tests/integration)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.records_helpers import add_users
from tests.security.security_helpers import make_app


@pytest.fixture(autouse=True)
def _no_inoplan_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests pass settings explicitly; the developer's INOPLAN_* variables must not leak in."""
    for name in list(os.environ):
        if name.startswith("INOPLAN_") and not name.startswith(
            ("INOPLAN_TEST_", "INOPLAN_REQUIRE_")
        ):
            monkeypatch.delenv(name)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'security.db'}"


@pytest.fixture
def app(db_url: str) -> Any:
    return make_app(db_url)


@pytest.fixture
def client(app: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def tokens(client: Any) -> dict[str, str]:
    """role -> bearer token; users are named after their role (password: PASSWORD)."""
    return add_users(client.app.state.database)
