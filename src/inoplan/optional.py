"""Optional parts of inoplan and the extra that installs each (``pip install 'inoplan[EXTRA]'``).

A feature that needs an optional library imports it through :func:`require`, which turns a
missing library into :class:`~inoplan.errors.OptionalDependencyMissing` naming the extra, so the
user reads what to install instead of a ``ModuleNotFoundError`` (exit code 2 on the command
line, HTTP 503 in the service). Standard library only.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Final

from inoplan.errors import OptionalDependencyMissing

__all__ = ["EXTRAS", "require"]

#: Top-level module -> the extra of pyproject.toml that installs it.
EXTRAS: Final = {
    "psycopg": "postgres",
    "dask": "dask",
    "distributed": "dask",
}


def require(module: str, feature: str) -> ModuleType:
    """Import ``module`` for ``feature``, or raise the error that names its extra.

    >>> require("json", "a test").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        raise OptionalDependencyMissing(feature, EXTRAS.get(top, top), top) from None
