"""The examples in the public docstrings of the core run as doctests, so they stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "inoplan.domain.units",
    "inoplan.domain.body",
    "inoplan.domain.dosing",
    "inoplan.domain.label",
    "inoplan.domain.course",
    "inoplan.knowledge.loader",
    "inoplan.ical",
    "inoplan.domain.vocabulary",
    "inoplan.knowledge.vocabulary",
    "inoplan.document.plausibility",
    "inoplan.services.guards",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no docstring examples"
    assert result.failed == 0
