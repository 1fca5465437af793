"""Liveness, readiness and metrics (no user authentication; no patient data)."""

from __future__ import annotations

import hmac
import logging
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from inoplan.api.schemas import HealthPublic, ReadyPublic

router = APIRouter(tags=["service"])
log = logging.getLogger("inoplan.ready")

#: /readyz answers within this many seconds even when the database does not.
READY_TIMEOUT_S = 5.0


@router.get("/healthz", response_model=HealthPublic)
def healthz() -> HealthPublic:
    """Liveness: the process answers (no database access, no authentication)."""
    return HealthPublic()


def _check(database: Any) -> dict[str, str]:
    """Database reachable, schema at the newest migration shipped."""
    from sqlalchemy import text

    try:
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        current = database.current_revision()
    except Exception as exc:  # any failure to reach or read the database means "not ready"
        log.warning("not ready: database unreachable", extra={"error": type(exc).__name__})
        return {"database": "unreachable", "migrations": "unknown"}
    head = database.head_revision()
    if current != head:
        return {"database": "ok", "migrations": f"at {current or 'none'}, expected {head}"}
    return {"database": "ok", "migrations": "at head"}


@router.get(
    "/readyz",
    response_model=ReadyPublic,
    responses={503: {"model": ReadyPublic, "description": "Not ready"}},
)
async def readyz(request: Request) -> JSONResponse:
    """Readiness: 200 when the database answers and its schema is at the newest migration,
    else 503 (no authentication; for load balancers and orchestrators)."""
    database = request.app.state.database
    checks = {"database": "unreachable", "migrations": "unknown"}
    with anyio.move_on_after(READY_TIMEOUT_S):
        checks = await anyio.to_thread.run_sync(_check, database, abandon_on_cancel=True)
    ready = checks["database"] == "ok" and checks["migrations"] == "at head"
    body = ReadyPublic(status="ready" if ready else "not ready", **checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus metrics; needs ``Authorization: Bearer <INOPLAN_METRICS_TOKEN>``."""
    token = request.app.state.settings.metrics_token
    if token is None:
        return Response(status_code=404)
    scheme, _, given = (request.headers.get("authorization") or "").partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})
    from inoplan.api import metrics as exposition

    return Response(exposition.render(), media_type=exposition.CONTENT_TYPE_LATEST)
