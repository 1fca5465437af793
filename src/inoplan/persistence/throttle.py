"""Failed-login counters shared by every worker (``login_throttle``).

The policy (how many failures are free, how long a block lasts) lives in
``inoplan.services.auth``; this module only reads and updates the rows, one short write
transaction per failed login, rows locked in key order so concurrent failures on several workers
never lose a count.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, func, select, update

from inoplan.persistence.engine import WRITE
from inoplan.persistence.rows import LoginThrottleRow

__all__ = ["SqlLoginThrottle", "Step"]

#: (kind, failures so far, last failure or None, now) -> (failures, blocked until or None)
Step = Callable[[str, int, datetime | None, datetime], tuple[int, datetime | None]]


class SqlLoginThrottle:
    def __init__(self, engine: Engine, *, write_lock: threading.Lock | None = None) -> None:
        self._read = engine
        self._write = engine.execution_options(**{WRITE: True})
        self._lock = write_lock

    def _insert_absent(self, key: str, kind: str, now: datetime) -> Any:
        insert: Any
        if self._write.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        values = {"key": key, "kind": kind, "failures": 0, "last_failure_at": now}
        return insert(LoginThrottleRow).values(**values).on_conflict_do_nothing()

    def blocked_until(self, keys: Sequence[str]) -> datetime | None:
        """The latest ``blocked_until`` among ``keys`` (possibly past), or None."""
        if not keys:
            return None
        with self._read.connect() as connection:
            return connection.execute(
                select(func.max(LoginThrottleRow.blocked_until)).where(
                    LoginThrottleRow.key.in_(list(keys))
                )
            ).scalar()

    def fail(
        self, entries: Sequence[tuple[str, str]], now: datetime, step: Step
    ) -> datetime | None:
        """Count one failure for each ``(key, kind)``; returns the latest new block, if any."""
        latest: datetime | None = None
        with self._lock or nullcontext(), self._write.begin() as connection:
            for key, kind in sorted(set(entries)):  # one lock order: no deadlock between workers
                connection.execute(self._insert_absent(key, kind, now))
                row = connection.execute(
                    select(LoginThrottleRow.failures, LoginThrottleRow.last_failure_at)
                    .where(LoginThrottleRow.key == key)
                    .with_for_update()
                ).one()
                previous_at = row.last_failure_at if row.failures else None
                failures, blocked = step(kind, int(row.failures), previous_at, now)
                connection.execute(
                    update(LoginThrottleRow)
                    .where(LoginThrottleRow.key == key)
                    .values(failures=failures, last_failure_at=now, blocked_until=blocked)
                )
                if blocked is not None and (latest is None or blocked > latest):
                    latest = blocked
        return latest

    def clear(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        with self._lock or nullcontext(), self._write.begin() as connection:
            connection.execute(delete(LoginThrottleRow).where(LoginThrottleRow.key.in_(list(keys))))

    def purge(self, before: datetime) -> int:
        """Forget counters whose last failure is older than ``before``."""
        with self._lock or nullcontext(), self._write.begin() as connection:
            result = connection.execute(
                delete(LoginThrottleRow).where(LoginThrottleRow.last_failure_at < before)
            )
        return int(result.rowcount)
