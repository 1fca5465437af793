"""API fixtures: an app on a throwaway SQLite file, one user (and token) per role."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.integration.records_helpers import add_users, settings_for


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
def client(app: FastAPI):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def tokens(client: TestClient) -> dict[str, str]:
    """role -> bearer token; users are named after their role."""
    return add_users(cast(FastAPI, client.app).state.database)
