"""Composition root: builds the database (engine, sessions, units of work) from ``Settings``.

Shared by the API, the web UI and the CLI. Nothing is built at import time.

>>> from inoplan.config import Settings
>>> db = Database(Settings(database_url="sqlite://"))
>>> db.upgrade() == db.head_revision()
True
>>> with db.uow() as uow:
...     uow.users.count()
0
>>> db.dispose()
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from inoplan.config import Settings, get_settings

if TYPE_CHECKING:
    from inoplan.persistence.replay import SqlReplayStore
    from inoplan.persistence.throttle import SqlLoginThrottle
    from inoplan.persistence.unit_of_work import SqlUnitOfWork
    from inoplan.services.records import AuditRecord

__all__ = ["Database", "append_audit_record", "get_database"]


class Database:
    """One engine per process plus read and write session factories."""

    def __init__(self, settings: Settings) -> None:
        from inoplan.persistence.engine import make_engine, make_session_factory

        self.settings = settings
        self.engine = make_engine(settings.database_url, pool_size=settings.pool_size)
        self._read = make_session_factory(self.engine)
        self._write = make_session_factory(self.engine, write=True)
        # SQLite has one writer at a time. Writers of this process queue on a lock instead of
        # polling SQLite's busy handler (which sleeps up to 100 ms between tries); writers in
        # other processes still wait on the busy timeout.
        self._write_lock = threading.Lock() if settings.is_sqlite else None
        self._replay: SqlReplayStore | None = None
        self._throttle: SqlLoginThrottle | None = None
        self._audit_key: bytes | None = None

    def audit_key(self) -> bytes:
        """The audit trail's HMAC key (``Settings.resolve_audit_key``), read once, on first use.

        Raises ``InvalidInput`` (field ``INOPLAN_AUDIT_KEY``) when it is missing, weak or
        unreadable: a CLI command then exits 2 with the reason, nothing is written.
        """
        if self._audit_key is None:
            from inoplan.errors import InvalidInput

            try:
                self._audit_key = self.settings.resolve_audit_key()
            except (OSError, ValueError) as exc:
                raise InvalidInput("INOPLAN_AUDIT_KEY", str(exc)) from None
        return self._audit_key

    @property
    def replay(self) -> SqlReplayStore:
        """The one replay (CDS Hooks ``jti``) store, shared by every worker through the database."""
        if self._replay is None:
            from inoplan.persistence.engine import is_memory_url, make_engine
            from inoplan.persistence.replay import SqlReplayStore

            url = self.settings.database_url
            engine = (
                self.engine if is_memory_url(url) else make_engine(url, pool_size=2, relaxed=True)
            )
            self._replay = SqlReplayStore(engine, write_lock=self._write_lock)
        return self._replay

    @property
    def throttle(self) -> SqlLoginThrottle:
        """Failed-login counters shared by every worker (``services.auth`` holds the policy)."""
        if self._throttle is None:
            from inoplan.persistence.throttle import SqlLoginThrottle

            self._throttle = SqlLoginThrottle(self.engine, write_lock=self._write_lock)
        return self._throttle

    @contextmanager
    def uow(self, *, write: bool = False) -> Iterator[SqlUnitOfWork]:
        """A unit of work (rolls back unless ``commit()`` is called inside the block)."""
        from inoplan.persistence.unit_of_work import SqlUnitOfWork

        if write and self._write_lock is not None:
            with self._write_lock, SqlUnitOfWork(self._write, self.audit_key) as uow:
                yield uow
            return
        with SqlUnitOfWork(self._write if write else self._read, self.audit_key) as uow:
            yield uow

    # services take ``uow_factory(write=...)``; the bound method is exactly that
    __call__ = uow

    def upgrade(self) -> str | None:
        from inoplan.persistence.migrate import upgrade

        return upgrade(self.engine)

    def current_revision(self) -> str | None:
        from inoplan.persistence.migrate import current_revision

        return current_revision(self.engine)

    def head_revision(self) -> str:
        """The newest migration shipped with this version of the package."""
        from inoplan.persistence.migrate import head_revision

        return head_revision()

    def dispose(self) -> None:
        if self._replay is not None:
            self._replay.dispose()
        self.engine.dispose()


@functools.cache
def get_database() -> Database:
    """The process-wide database for the environment's settings (built on first use)."""
    return Database(get_settings())


def append_audit_record(*, database: Database | None = None, **fields: Any) -> AuditRecord:
    """Append one audit record in its own transaction (see ``services.audit.append_audit``)."""
    from inoplan.services.audit import append_audit

    with (database or get_database()).uow(write=True) as uow:
        record = append_audit(uow, **fields)
        uow.commit()
    return record
