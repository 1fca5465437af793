"""What a stored decision is computed for, and what the Today list keeps of it.

A course's decision depends on the course document (its version), the day it is for, and what
the engine decides with: the engine and document code, the shipped knowledge (label revisions,
QT drug list, vocabulary, plausibility limits) and the site policy. A stored decision records the
first two as the course version and day, and the rest as :func:`fingerprint`: a SHA-256 over the
source of the deciding packages, the knowledge files and the site policy. A row whose version,
day or fingerprint is not the current one is stale: it is recomputed, never served as current.

**Sealed rows.** Each stored row carries a MAC (HMAC-SHA256 under the audit key, the key of
:mod:`inoplan.services.audit`, kept outside the database) over its canonical content: the course,
the day, the course version, the fingerprint, every column the Today list shows and the SHA-256 of
the decision JSON (``audit.seal_decision_row``). Anyone who can write to the database but does
not hold the key cannot change a row's status, alerts or next dose without the MAC failing
(``audit.decision_row_problem``):
the Today list then recomputes that course from its events and raises ``DECISION_ROW_TAMPERED``,
and ``inoplan audit verify`` reports the row.

This module sits below :mod:`inoplan.services.records` (which stores a course's decision in the
same transaction as each write) and :mod:`inoplan.services.decisions` (which reads and refreshes
them); it does no I/O apart from reading the package's own files once per process.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from inoplan import __version__
from inoplan.services.audit import (
    DECISION_ROW_COLUMNS,
    decision_row_problem,
    key_id,
    seal_decision_row,
)
from inoplan.services.common import document_sha256

__all__ = [
    "DECISION_ROW_COLUMNS",
    "SUMMARY_COLUMNS",
    "TAMPERED",
    "acknowledges",
    "deciding_rules",
    "decision_row_problem",
    "fingerprint",
    "one_line_reason",
    "split",
    "stored_row",
    "summarise",
    "summary_of",
]

#: The parts of the package a decision is computed with (source and data files).
_DECIDING = (
    "domain",
    "document",
    "knowledge",
    "services/courses.py",
    "services/render.py",
    "services/render_decision.py",
)
_SKIP_SUFFIXES = (".pyc", ".pyo")


@functools.cache
def code_digest() -> str:
    """SHA-256 over the engine version and every file the decision is computed with.

    Read once per process: the files do not change under a running process (an upgrade restarts
    the workers), so every process running the same release computes the same digest.
    """
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256(f"inoplan {__version__}\n".encode())
    for part in _DECIDING:
        base = root / part
        files = sorted(p for p in base.rglob("*") if p.is_file()) if base.is_dir() else [base]
        for path in files:
            if "__pycache__" in path.parts or path.suffix in _SKIP_SUFFIXES:
                continue
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def fingerprint(policy: Any = None) -> str:
    """The knowledge, engine and site-policy fingerprint a decision is computed for.

    ``policy`` is the ``SitePolicy`` in force (``None``: the defaults). Its ``repr`` is part of
    the digest: a frozen dataclass of numbers, strings and tuples, the same in every process.
    """
    if policy is None:
        from inoplan.domain.policy import SitePolicy

        policy = SitePolicy()
    text = f"{code_digest()}\n{policy!r}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def deciding_rules(decision: Mapping[str, Any]) -> tuple[str, ...]:
    """The rules that decided the decision's status (what an acknowledgement covers)."""
    status = decision.get("status")
    rules = {
        str(r.get("rule"))
        for r in decision.get("reasons") or []
        if r.get("verdict") == status and r.get("rule")
    }
    return tuple(sorted(rules))


def acknowledges(
    acknowledged_status: str | None,
    acknowledged_rules: tuple[str, ...] | list[str] | None,
    status: str,
    rules: tuple[str, ...] | list[str],
) -> bool:
    """Whether an acknowledgement (its status and rules) covers a decision (status, rules):
    the same status, and every rule that decides it now was already acknowledged (a new reason
    to stop needs a new acknowledgement)."""
    if acknowledged_status is None or acknowledged_status != status:
        return False
    return set(rules) <= set(acknowledged_rules or ())


def one_line_reason(decision: Mapping[str, Any]) -> str:
    """The first reason's message with its citation, as the Today list shows it."""
    reasons = decision.get("reasons") or []
    if not reasons:
        return ""
    first = reasons[0]
    return f"{first.get('message', '')} ({first.get('citation', '')})"


def summarise(decision: Mapping[str, Any]) -> dict[str, Any]:
    """What the Today list shows of a decision (stored beside it, so the list reads no more)."""
    alerts = decision.get("alerts") or []
    critical = [str(a.get("code")) for a in alerts if a.get("severity") == "critical"]
    return {
        "status": str(decision.get("status")),
        "reason": one_line_reason(decision),
        "next_dose": _next_dose(decision.get("next_dose")),
        "critical": len(critical),
        "critical_codes": list(dict.fromkeys(critical)),
        "warnings": sum(1 for a in alerts if a.get("severity") == "warning"),
        "rules": list(deciding_rules(decision)),
        "reason_rules": [str(r.get("rule")) for r in decision.get("reasons") or []],
    }


def _next_dose(next_dose: Any) -> dict[str, Any] | None:
    """The next dose's fields the Today list shows (cycle, day, date, mg and mg/m2)."""
    if not isinstance(next_dose, Mapping):
        return None
    return {
        "cycle": next_dose.get("cycle"),
        "day": next_dose.get("day"),
        "scheduled": next_dose.get("scheduled"),
        "dose_mg": _number(next_dose.get("dose_mg")),
        "dose_mg_per_m2": _number(next_dose.get("dose_mg_per_m2")),
    }


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _joined(values: list[str]) -> str:
    """Rule ids and alert codes are dotted identifiers (no comma); one with a comma would be
    stored with it replaced, so that it can never split into two."""
    return ",".join(value.replace(",", "_") for value in values)


def split(text: str | None) -> tuple[str, ...]:
    """A comma-separated column back into its values."""
    return tuple(text.split(",")) if text else ()


def summary_of(columns: Mapping[str, Any]) -> dict[str, Any]:
    """The :func:`summarise` dictionary back from the stored columns."""
    cycle = columns["next_cycle"]
    return {
        "status": columns["status"],
        "reason": columns["reason"],
        "next_dose": None
        if cycle is None
        else {
            "cycle": cycle,
            "day": columns["next_day"],
            "scheduled": columns["next_scheduled"],
            "dose_mg": columns["next_dose_mg"],
            "dose_mg_per_m2": columns["next_dose_mg_per_m2"],
        },
        "critical": columns["critical"],
        "critical_codes": list(split(columns["critical_codes"])),
        "warnings": columns["warnings"],
        "rules": list(split(columns["rules"])),
        "reason_rules": list(split(columns["reason_rules"])),
    }


def stored_row(
    *,
    key: bytes,
    course_id: int,
    course_version: int,
    on: date,
    fingerprint: str,
    decision: Mapping[str, Any],
    at: datetime,
) -> dict[str, Any]:
    """The values of one ``current_decisions`` row (what ``uow.current_decisions.upsert`` takes),
    sealed under ``key`` (the audit key: ``uow.audit.key()``)."""
    summary = summarise(decision)
    next_dose = summary["next_dose"] or {}
    row: dict[str, Any] = {
        "course_id": course_id,
        "as_of": on,
        "course_version": course_version,
        "fingerprint": fingerprint,
        "status": summary["status"],
        "reason": summary["reason"],
        "critical": summary["critical"],
        "warnings": summary["warnings"],
        "critical_codes": _joined(summary["critical_codes"]),
        "rules": _joined(summary["rules"]),
        "reason_rules": _joined(summary["reason_rules"]),
        "next_cycle": next_dose.get("cycle"),
        "next_day": next_dose.get("day"),
        "next_scheduled": next_dose.get("scheduled"),
        "next_dose_mg": next_dose.get("dose_mg"),
        "next_dose_mg_per_m2": next_dose.get("dose_mg_per_m2"),
        "decision": dict(decision),
        "decision_sha256": document_sha256(decision),
        "computed_at": at,
    }
    row["mac_key_id"] = key_id(key)
    row["mac"] = seal_decision_row(key, row)
    return row


#: The stored columns :func:`summary_of` reads (in this order).
SUMMARY_COLUMNS = DECISION_ROW_COLUMNS[DECISION_ROW_COLUMNS.index("status") :]


#: The critical alert the Today list raises for a stored row whose MAC does not verify.
TAMPERED = "DECISION_ROW_TAMPERED"
