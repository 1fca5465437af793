"""Deployment tests: the container's files, its start command, outages, backup and restore."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _no_inoplan_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("INOPLAN_") and not name.startswith(
            ("INOPLAN_TEST_", "INOPLAN_REQUIRE_")
        ):
            monkeypatch.delenv(name)
