"""Errors as ``application/problem+json`` (RFC 9457): the only place that knows HTTP statuses."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from inoplan.errors import (
    CdsError,
    Conflict,
    Forbidden,
    InvalidInput,
    KnowledgeBaseError,
    NoDoseToPrepare,
    NotFound,
    OptionalDependencyMissing,
    OutsideWorkflow,
    OverrideRequired,
    PreconditionRequired,
    TooManyAttempts,
    Unauthenticated,
    UnknownLabelVersion,
)

__all__ = [
    "PROBLEM_JSON",
    "STATUS_FOR_ERROR",
    "PreconditionRequired",
    "install",
    "status_for",
]

PROBLEM_JSON: Final = "application/problem+json"
log = logging.getLogger(__name__)


#: Error class -> HTTP status; the most specific class in the MRO wins. Every subclass of
#: ``CdsError`` must resolve to an entry here before the root (tests/api/test_problems.py walks
#: the class tree), so no deliberate error reaches a client as a bare 500.
STATUS_FOR_ERROR: Final[Mapping[type[CdsError], int]] = {
    UnknownLabelVersion: 422,  # the caller named a label that is not shipped (also a KB error)
    InvalidInput: 422,
    NotFound: 404,
    Conflict: 409,
    # a direct administration of a day not given through the treatment-day workflow: the day's
    # state does not allow it (a prescriber's override with a reason does)
    OutsideWorkflow: 409,
    NoDoseToPrepare: 409,  # the course's state (complete, discontinued) has no dose to prepare
    Unauthenticated: 401,
    Forbidden: 403,
    TooManyAttempts: 429,
    PreconditionRequired: 428,
    # The server, not the caller, is at fault: "unavailable" with a fixed text (the details go
    # to the log, not to the client).
    KnowledgeBaseError: 503,
    OptionalDependencyMissing: 503,
}

#: What a client reads for an error the server is at fault for (status >= 500).
_SERVER_FAULT_DETAIL: Final[Mapping[type[CdsError], str]] = {
    KnowledgeBaseError: "the label data shipped with this server cannot be used; "
    "an administrator must check the installation",
    OptionalDependencyMissing: "a part of the server needed for this request is not installed; "
    "an administrator must install it",
}

_TITLES: Final = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Invalid input",
    428: "Precondition required",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


def _mapped(cls: type[CdsError], table: Mapping[type[CdsError], Any]) -> Any:
    return next((table[c] for c in cls.__mro__ if c in table), None)


def status_for(exc: CdsError | type[CdsError]) -> int | None:
    """The HTTP status of an error (or error class); ``None`` when it has none (a defect)."""
    cls = exc if isinstance(exc, type) else type(exc)
    status: int | None = _mapped(cls, STATUS_FOR_ERROR)
    return status


def problem(status: int, detail: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **extra,
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    from inoplan.document.io import _EVENT_TYPES, field_path

    parts = list(loc)
    where = parts[0] if parts else "body"
    rest = parts[1:]
    if where in {"query", "path", "header"}:
        return ".".join(str(p) for p in rest) or str(where)
    return field_path(rest, frozenset(_EVENT_TYPES)) if rest else "body"


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document."""

    @app.exception_handler(CdsError)
    async def _cds_error(_: Request, exc: CdsError) -> JSONResponse:
        status = status_for(exc)
        if status is None:  # an error class without a status: a defect the tests catch
            log.error("internal error: %s has no HTTP status", type(exc).__name__)
            return problem(500, "the server could not complete the request")
        if status >= 500:
            log.error("server fault: %s: %s", type(exc).__name__, exc)
            detail = _mapped(type(exc), _SERVER_FAULT_DETAIL)
            return problem(status, detail or "the server could not complete the request")
        if isinstance(exc, OverrideRequired):
            return problem(status, str(exc), field=exc.field, because=list(exc.because))
        if isinstance(exc, InvalidInput):
            return problem(status, str(exc), field=exc.field)
        response = problem(status, str(exc))
        if isinstance(exc, TooManyAttempts):
            response.headers["Retry-After"] = str(exc.retry_after_s)
        return response

    from sqlalchemy.exc import InterfaceError, OperationalError

    async def _database_down(_: Request, exc: Exception) -> JSONResponse:
        # the database is unreachable (or restarting): nothing was written, try again later
        log.warning("database unavailable: %s", type(exc).__name__)
        response = problem(503, "the database is not reachable; nothing was saved, try again")
        response.headers["Retry-After"] = "5"
        return response

    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(InterfaceError, _database_down)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field(e.get("loc", ())), "message": str(e.get("msg", "invalid"))}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        return problem(
            422, f"{first['field']}: {first['message']}", field=first["field"], errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI could not parse the body: invalid input too
            return problem(422, f"body: {exc.detail}", field="body")
        response = problem(exc.status_code, str(exc.detail))
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response
