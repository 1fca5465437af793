"""Property tests: those marked ``slow`` run only with ``-m slow`` or INOPLAN_RUN_SLOW=1."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("INOPLAN_RUN_SLOW") or "slow" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow or INOPLAN_RUN_SLOW=1")
    for item in items:
        if "slow" in item.keywords and "tests/property" in str(item.fspath).replace("\\", "/"):
            item.add_marker(skip)
