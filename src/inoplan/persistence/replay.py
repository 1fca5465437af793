"""The replay (``jti``) store: the one place that remembers CDS Hooks token ids.

Every worker shares it through the database. Remembering an id is one statement, on a
connection with relaxed durability (``make_engine(relaxed=True)``)::

    INSERT INTO cds_jti (iss, jti, expires_at) VALUES (...)
    ON CONFLICT (iss, jti) DO UPDATE SET expires_at = excluded.expires_at
        WHERE cds_jti.expires_at < :now
    RETURNING id

A row comes back when the id is new, or when the only earlier sighting has expired (an id may
be reused after its token is dead); nothing comes back for a replay. The unique constraint on
``(iss, jti)`` decides between two workers that receive the same token at the same instant.
Expired rows are deleted at most once a minute per process, in the same transaction.

Relaxed durability: the id is visible to every worker as soon as the statement returns, but a
crash of the machine (SQLite) or of PostgreSQL may forget the ids of the last moments. A token
seen just before such a crash could then be accepted once more within its remaining lifetime
(at most the issuer's ``max_lifetime_s``). Everything else the service writes keeps full
durability. Measured on SQLite: about 9 ms per id with ``synchronous=FULL``, about
1 ms relaxed (``bench/bench_cds.py --profile``).
"""

from __future__ import annotations

import threading
import time
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete

from inoplan.persistence.engine import WRITE
from inoplan.persistence.rows import CdsJtiRow

__all__ = ["MAX_ISS_LENGTH", "MAX_JTI_LENGTH", "SqlReplayStore"]

MAX_ISS_LENGTH = 512
MAX_JTI_LENGTH = 255


class SqlReplayStore:
    """``remember(iss, jti, expires_at) -> bool``: False when the id was seen and is still live."""

    PURGE_EVERY_S = 60.0

    def __init__(self, engine: Engine, *, write_lock: threading.Lock | None = None) -> None:
        self._own_engine = engine
        self._engine = engine.execution_options(**{WRITE: True})
        self._lock = write_lock
        self._last_purge = float("-inf")

    def dispose(self) -> None:
        self._own_engine.dispose()

    def _insert(self, iss: str, jti: str, expires_at: datetime, now: datetime) -> Any:
        insert: Any
        if self._engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        statement = insert(CdsJtiRow).values(iss=iss, jti=jti, expires_at=expires_at)
        return statement.on_conflict_do_update(
            index_elements=[CdsJtiRow.iss, CdsJtiRow.jti],
            set_={"expires_at": statement.excluded.expires_at},
            where=CdsJtiRow.expires_at < now,
        ).returning(CdsJtiRow.id)

    def remember(self, iss: str, jti: str, expires_at: datetime) -> bool:
        if not iss or not jti or len(iss) > MAX_ISS_LENGTH or len(jti) > MAX_JTI_LENGTH:
            raise ValueError("iss and jti must be non-empty and within the column lengths")
        if expires_at.tzinfo is None:
            raise ValueError("expires_at must be timezone-aware")
        now = datetime.now(UTC)
        tick = time.monotonic()
        purge = tick - self._last_purge > self.PURGE_EVERY_S
        if purge:
            self._last_purge = tick
        with self._lock or nullcontext(), self._engine.begin() as connection:
            if purge:
                connection.execute(delete(CdsJtiRow).where(CdsJtiRow.expires_at < now))
            inserted = connection.execute(self._insert(iss, jti, expires_at, now)).first()
        return inserted is not None
