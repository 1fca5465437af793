"""The replay (``jti``) store: the one place that remembers CDS Hooks token ids.

Every worker shares it through the database. Remembering an id is one statement, on a
connection with relaxed durability (``make_engine(relaxed=True)``)::

    INSERT INTO cds_jti (iss, jti, expires_at) VALUES (?, ?, ?)
    ON CONFLICT (iss, jti) DO UPDATE SET expires_at = excluded.expires_at
        WHERE cds_jti.expires_at < ?
    RETURNING id

The SQL text is built once per store and sent straight to the driver on a pooled connection
(no ORM, no statement compilation per call). On SQLite the connection is in autocommit mode,
so the single statement is its own transaction (no BEGIN/COMMIT round trips); on PostgreSQL it
is followed by a COMMIT. Timestamps are bound through the column's own type (``UtcDateTime``),
so they are stored exactly as the ORM stores them.

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
from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from inoplan.persistence.rows import CdsJtiRow

__all__ = ["MAX_ISS_LENGTH", "MAX_JTI_LENGTH", "SqlReplayStore"]

MAX_ISS_LENGTH = 512
MAX_JTI_LENGTH = 255

_TABLE = CdsJtiRow.__tablename__


class SqlReplayStore:
    """``remember(iss, jti, expires_at) -> bool``: False when the id was seen and is still live."""

    PURGE_EVERY_S = 60.0

    def __init__(self, engine: Engine, *, write_lock: threading.Lock | None = None) -> None:
        self._engine = engine
        self._lock = write_lock
        self._last_purge = float("-inf")
        dialect = engine.dialect
        self._sqlite = dialect.name == "sqlite"
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self._insert = (
            f"INSERT INTO {_TABLE} (iss, jti, expires_at) VALUES ({mark}, {mark}, {mark}) "
            "ON CONFLICT (iss, jti) DO UPDATE SET expires_at = excluded.expires_at "
            f"WHERE {_TABLE}.expires_at < {mark} RETURNING id"
        )
        self._purge = f"DELETE FROM {_TABLE} WHERE expires_at < {mark}"
        column_type = CdsJtiRow.__table__.c.expires_at.type
        processor = column_type.bind_processor(dialect)
        self._stamp: Callable[[datetime], Any] = processor or (lambda value: value)

    def dispose(self) -> None:
        self._engine.dispose()

    def remember(self, iss: str, jti: str, expires_at: datetime) -> bool:
        if not iss or not jti or len(iss) > MAX_ISS_LENGTH or len(jti) > MAX_JTI_LENGTH:
            raise ValueError("iss and jti must be non-empty and within the column lengths")
        if expires_at.tzinfo is None:
            raise ValueError("expires_at must be timezone-aware")
        now = self._stamp(datetime.now(UTC))
        tick = time.monotonic()
        purge = tick - self._last_purge > self.PURGE_EVERY_S
        if purge:
            self._last_purge = tick
        with self._lock or nullcontext():
            connection = self._engine.raw_connection()
            try:
                cursor = connection.cursor()
                try:
                    if purge:
                        cursor.execute(self._purge, (now,))
                    cursor.execute(self._insert, (iss, jti, self._stamp(expires_at), now))
                    inserted = cursor.fetchone()
                finally:
                    cursor.close()
                if not self._sqlite:  # SQLite runs in autocommit mode (persistence.engine)
                    connection.commit()
            except BaseException:
                if not self._sqlite:
                    connection.rollback()
                raise
            finally:
                connection.close()  # back to the pool
        return inserted is not None
