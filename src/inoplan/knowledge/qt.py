"""Read ``qt_drugs.toml`` (QT-prolonging medicines from US labels) into domain values.

Standard library only; I/O: reads one package data file.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from inoplan.domain.engine.qt import QtDrug, QtDrugList
from inoplan.errors import MalformedLabelData

__all__ = ["STATUSES", "TAGS", "load_qt_drugs"]

STATUSES = frozenset({"confirmed", "unconfirmed", "contrast"})
TAGS = frozenset({"BOXED", "W&P", "INTERACTION", "AR-ONLY", "CONTRAST"})


def _fail(problem: str) -> MalformedLabelData:
    return MalformedLabelData("qt_drugs", problem)


def _texts(row: dict[str, Any], key: str, path: str) -> tuple[str, ...]:
    value = row.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(f"{path}.{key}: expected a list of texts")
    return tuple(value)


def _file() -> Path:
    # the package's own file (importlib.resources would cost start-up time, bench/README.md)
    return Path(__file__).with_name("qt_drugs.toml")


@functools.cache
def load_qt_drugs() -> QtDrugList:
    """The shipped QT list (confirmed entries flagged by default)."""
    from inoplan.knowledge.prebuilt import prebuilt, source_files

    files = (_file(), *source_files("knowledge/qt.py", "domain/engine/qt.py"))
    return prebuilt("qt-drugs", files, _build)


def _build() -> QtDrugList:
    import tomllib

    raw = tomllib.loads(_file().read_text(encoding="utf-8"))
    if raw.get("schema") != 1:
        raise _fail("expected schema = 1")
    drugs = []
    for key, row in raw.get("drug", {}).items():
        path = f"drug.{key}"
        for needed in ("status", "tag", "source", "evidence", "where"):
            if not isinstance(row.get(needed), str) or not row[needed]:
                raise _fail(f"{path}.{needed}: missing text")
        if row["status"] not in STATUSES:
            raise _fail(f"{path}.status: unknown {row['status']!r}")
        if row["tag"] not in TAGS:
            raise _fail(f"{path}.tag: unknown {row['tag']!r}")
        drugs.append(
            QtDrug(
                key=key,
                generic=key.replace("_", " "),
                status=row["status"],
                tag=row["tag"],
                synonyms=_texts(row, "synonyms", path),
                excludes=_texts(row, "excludes", path),
                source=row["source"],
                where=row["where"],
                evidence=row["evidence"],
                note=row.get("note"),
            )
        )
    return QtDrugList(
        title=str(raw.get("title", "")), citation=str(raw["citation"]), drugs=tuple(drugs)
    )
