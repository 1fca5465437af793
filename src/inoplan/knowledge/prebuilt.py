"""Knowledge built once and kept beside the package's bytecode (start-up time of the CLI).

Reading a label (TOML, then checking and building the frozen domain values), the QT list or the
vocabulary costs a good part of ``inoplan dose``'s start (bench/README.md, "CLI start-up").
:func:`prebuilt` keeps what a builder returned as a pickle in the package's own ``__pycache__``
folder (where Python keeps the bytecode it trusts, so no new trust), together with the exact
bytes of every file it came from: the data files **and the code that builds and defines the
values**. The pickle is used only when all those bytes are still identical and the Python
version is the same; anything else (a changed label, a changed loader, a newer interpreter, a
missing, unreadable or broken cache file, a read-only folder) builds from the files again, as
without the cache. So the cache can only save time, never change an answer
(tests/knowledge/test_prebuilt.py). ``INOPLAN_NO_PREBUILT=1`` turns it off.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["prebuilt", "source_files"]

T = TypeVar("T")

_FORMAT = 1
_PACKAGE = Path(__file__).resolve().parents[1]  # src/inoplan


def source_files(*relative: str) -> tuple[Path, ...]:
    """Files of the package, named relative to it (``knowledge/loader.py``)."""
    return tuple(_PACKAGE / name for name in relative)


def _cache_path(name: str) -> Path:
    tag = sys.implementation.cache_tag or "python"
    return Path(__file__).with_name("__pycache__") / f"prebuilt-{name}.{tag}.pickle"


def _read_sources(files: Sequence[Path]) -> tuple[bytes, ...] | None:
    try:
        return tuple(f.read_bytes() for f in files)
    except OSError:
        return None


def prebuilt(name: str, files: Sequence[Path], build: Callable[[], T]) -> T:
    """``build()``, or the value it returned before when every file in ``files`` (data and code)
    still has the same bytes. ``name`` names the cache file (one per value)."""
    if os.environ.get("INOPLAN_NO_PREBUILT"):
        return build()
    sources = _read_sources(files)
    if sources is None:
        return build()
    key = (_FORMAT, sys.version, sources)
    path = _cache_path(name)
    try:  # the C unpickler alone: the pure-Python ``pickle`` module costs start-up time
        from _pickle import load
    except ImportError:  # pragma: no cover - another Python implementation
        from pickle import load
    try:
        with path.open("rb") as stream:
            stored_key = load(stream)
            if stored_key == key:
                value: T = load(stream)
                return value
    except Exception:  # no cache, an old or broken one: build from the files
        pass
    value = build()
    _store(path, key, value)
    return value


def _store(path: Path, key: Any, value: Any) -> None:
    """Write the cache atomically (a temporary file renamed); quietly skipped when it cannot
    be written (a read-only install) or the value cannot be pickled."""
    import pickle

    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        data = pickle.dumps(key, protocol=pickle.HIGHEST_PROTOCOL) + pickle.dumps(
            value, protocol=pickle.HIGHEST_PROTOCOL
        )
        path.parent.mkdir(exist_ok=True)
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except Exception:  # the cache is optional
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
