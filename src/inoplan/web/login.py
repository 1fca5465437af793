"""Logins for the API and the web UI: throttle, then hash (bounded), then record the outcome.

A throttled login is refused at once (a cheap read). Otherwise the password hash, with the
throttle checked again before it and the outcome recorded after it, runs in a worker thread, at
most ``HASH_SLOTS`` (one per CPU) at a time per process: callers beyond that wait *on the event
loop* (an ``anyio.CapacityLimiter``), not in a thread, so a burst of logins can neither block
the event loop nor take the thread pool that every other request needs. When more than
:data:`MAX_WAITING` logins already wait, the next one is told to come back (429,
``Retry-After: 1``) instead of queueing without bound.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from inoplan.services.auth import (
    HASH_SLOTS,
    LoginAttempt,
    TooManyAttempts,
    check_throttle,
    device_id,
    login,
)
from inoplan.services.records import UserRecord

__all__ = ["DEVICE_COOKIE", "MAX_WAITING", "attempt_login", "client_address", "device_of"]

#: A browser that logged in as a user before carries this signed cookie (90 days); its logins
#: are not held back by failures from elsewhere (docs/permissions.md, "Failed logins").
DEVICE_COOKIE = "inoplan_device"
MAX_WAITING = 4 * HASH_SLOTS


def _limiter(state: Any) -> anyio.CapacityLimiter:
    limiter: anyio.CapacityLimiter | None = getattr(state, "hash_limiter", None)
    if limiter is None:
        limiter = state.hash_limiter = anyio.CapacityLimiter(HASH_SLOTS)
    return limiter


def _now(state: Any) -> datetime:
    """Now, or the clock a test pinned with ``app.state.login_clock``."""
    clock = getattr(state, "login_clock", None)
    now: datetime = clock() if clock is not None else datetime.now(UTC)
    return now


def client_address(request: Request) -> str | None:
    """The peer's address (a proxy's ``X-Forwarded-For`` only if it is a trusted proxy)."""
    return request.client.host if request.client is not None else None


def device_of(request: Request, username: str) -> str | None:
    secret = request.app.state.settings.secret
    return device_id(request.cookies.get(DEVICE_COOKIE), username, secret=secret)


def _login_in_slot(database: Any, attempt: LoginAttempt, now: datetime) -> UserRecord:
    """Inside a hash slot: check the throttle again (failures recorded while this login waited
    count), hash, record the outcome, and only then free the slot. So a burst of concurrent
    guesses gets no more tries than the same guesses one after another (give or take the
    logins already hashing)."""
    return login(database, database.throttle, attempt, now=now)


async def attempt_login(request: Request, attempt: LoginAttempt) -> UserRecord:
    """The user, or raises Unauthenticated (wrong credentials) or TooManyAttempts (429)."""
    from inoplan.services import telemetry

    state = request.app.state
    database = state.database
    try:
        await run_in_threadpool(check_throttle, database.throttle, attempt, now=_now(state))
        limiter = _limiter(state)
        if limiter.available_tokens == 0 and limiter.statistics().tasks_waiting >= MAX_WAITING:
            raise TooManyAttempts(1, "the server is busy checking other logins; try again in 1 s")
    except TooManyAttempts:
        telemetry.login_outcome("throttled")
        raise
    try:
        found: UserRecord = await anyio.to_thread.run_sync(
            _login_in_slot, database, attempt, _now(state), limiter=limiter
        )
    except TooManyAttempts:
        telemetry.login_outcome("throttled")
        raise
    except Exception:
        telemetry.login_outcome("failed")
        raise
    telemetry.login_outcome("ok")
    return found
