"""Composition root: builds the database (engine, sessions, units of work) from ``Settings``.

Shared by the API, the web UI and the CLI. Nothing is built at import time.

>>> from inoplan.config import Settings
>>> db = Database(Settings(database_url="sqlite://"))
>>> db.upgrade()
'0001_initial'
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
from datetime import datetime
from typing import TYPE_CHECKING, Any

from inoplan.config import Settings, get_settings

if TYPE_CHECKING:
    from inoplan.persistence.unit_of_work import SqlUnitOfWork
    from inoplan.services.records import AuditRecord

__all__ = ["Database", "append_audit_record", "get_database", "remember_jti"]


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

    @contextmanager
    def uow(self, *, write: bool = False) -> Iterator[SqlUnitOfWork]:
        """A unit of work (rolls back unless ``commit()`` is called inside the block)."""
        from inoplan.persistence.unit_of_work import SqlUnitOfWork

        if write and self._write_lock is not None:
            with self._write_lock, SqlUnitOfWork(self._write) as uow:
                yield uow
            return
        with SqlUnitOfWork(self._write if write else self._read) as uow:
            yield uow

    # services take ``uow_factory(write=...)``; the bound method is exactly that
    __call__ = uow

    def upgrade(self) -> str | None:
        from inoplan.persistence.migrate import upgrade

        return upgrade(self.engine)

    def current_revision(self) -> str | None:
        from inoplan.persistence.migrate import current_revision

        return current_revision(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()


@functools.cache
def get_database() -> Database:
    """The process-wide database for the environment's settings (built on first use)."""
    return Database(get_settings())


def remember_jti(
    iss: str, jti: str, expires_at: datetime, *, database: Database | None = None
) -> bool:
    """CDS Hooks replay guard: False when this issuer's ``jti`` was already seen.

    Pass the app's database (``request.app.state.database``) inside the service.
    """
    from inoplan.services.records import remember_jti as remember

    return remember(database or get_database(), iss, jti, expires_at)


def append_audit_record(*, database: Database | None = None, **fields: Any) -> AuditRecord:
    """Append one audit record in its own transaction (see ``services.audit.append_audit``)."""
    from inoplan.services.audit import append_audit

    with (database or get_database()).uow(write=True) as uow:
        record = append_audit(uow, **fields)
        uow.commit()
    return record
