"""Structured logs: one JSON object per line, every text escaped, no patient data.

``inoplan serve`` installs :func:`logging_config` (also in every Uvicorn worker). Each record
becomes ``{"ts", "level", "logger", "message", ...}`` plus the fields passed with
``extra={...}``. Every string (the message, each field, a traceback) goes through
:func:`escape`: control characters (CR, LF, ESC ...), bidirectional and other invisible format
characters (U+202E ...), line and paragraph separators and unpaired surrogates are written as
``\\uXXXX`` text, so a value sent by a caller (the unverified ``iss`` of a refused token, a user
name typed at login) can neither start a new log line nor reorder what a reader sees. The JSON
is also ASCII-only. The same escaping applies with ``INOPLAN_LOG_FORMAT=text``.

What is logged carries opaque ids only (course ids, user names of staff, route templates),
never a patient identifier, name, birth date or clinical value.
"""

from __future__ import annotations

import json
import logging
import unicodedata
from datetime import UTC, datetime
from typing import Any

__all__ = ["JsonFormatter", "TextFormatter", "escape", "logging_config"]

_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_STANDARD = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
) | {"message", "asctime", "taskName"}
MAX_FIELD = 2000


def escape(text: object, limit: int = MAX_FIELD) -> str:
    """``text`` with every control, format (bidi) and separator character as ``\\uXXXX``
    (so ``"a\\r\\nb"`` becomes the 14 characters ``a\\u000d\\u000ab``), cut at ``limit``."""
    value = text if isinstance(text, str) else str(text)
    if len(value) > limit:
        value = value[:limit] + "..."
    if value.isprintable():
        return value
    return "".join(
        f"\\u{ord(c):04x}" if unicodedata.category(c) in _UNSAFE_CATEGORIES else c for c in value
    )


def _clean(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {escape(k, 100): _clean(v) for k, v in list(value.items())[:50]}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v) for v in list(value)[:50]]
    return escape(value)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: _clean(value)
        for key, value in vars(record).items()
        if key not in _STANDARD and not key.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per line (ASCII only, every string escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": escape(record.getMessage()),
        }
        payload.update(_fields(record))
        if record.exc_info:
            payload["exc"] = escape(self.formatException(record.exc_info), 20_000)
        return json.dumps(payload, ensure_ascii=True, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """``LEVEL logger: message key=value ...`` on one line, every string escaped."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [f"{record.levelname} {record.name}: {escape(record.getMessage())}"]
        parts += [
            f"{key}={json.dumps(value, ensure_ascii=True, default=str)}"
            for key, value in _fields(record).items()
        ]
        line = " ".join(parts)
        if record.exc_info:
            line += " exc=" + json.dumps(escape(self.formatException(record.exc_info), 20_000))
        return line


def logging_config(level: str = "INFO", fmt: str = "json") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dictionary (Uvicorn applies it in every worker)."""
    formatter = "inoplan.logs.JsonFormatter" if fmt == "json" else "inoplan.logs.TextFormatter"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"inoplan": {"()": formatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "inoplan",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            # the service writes its own access log (route templates, never raw paths)
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "CRITICAL"},
            "alembic": {"level": "WARNING"},
            "sqlalchemy.engine": {"level": "WARNING"},
        },
    }
