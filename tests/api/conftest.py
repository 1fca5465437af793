"""API fixtures: an app on a throwaway SQLite file, one user (and token) per role."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The records helpers live beside the integration tests; both suites use them.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from records_helpers import add_users, settings_for


@pytest.fixture(autouse=True)
def _no_inoplan_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests pass settings explicitly; the developer's INOPLAN_* variables must not leak in."""
    import os

    for name in list(os.environ):
        if name.startswith("INOPLAN_") and not name.startswith(
            ("INOPLAN_TEST_", "INOPLAN_REQUIRE_")
        ):
            monkeypatch.delenv(name)


@pytest.fixture
def app(tmp_path: Path):  # type: ignore[no-untyped-def]
    from inoplan.api import create_app

    return create_app(settings_for(f"sqlite:///{tmp_path / 'api.db'}"))


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def tokens(client) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """role -> bearer token; users are named after their role."""
    return add_users(client.app.state.database)
