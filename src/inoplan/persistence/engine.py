"""Engines and session factories: SQLite pragmas, PostgreSQL pool. I/O: opens connections."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

__all__ = [
    "CONNECT_TIMEOUT_S",
    "SQLITE_BUSY_TIMEOUT_MS",
    "WRITE",
    "is_memory_url",
    "make_engine",
    "make_session_factory",
]

SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Execution option that makes a SQLite transaction start with BEGIN IMMEDIATE (takes the
#: write lock up front, so two writers queue on the busy timeout instead of failing later).
WRITE = "inoplan_write"


#: Seconds to wait for a PostgreSQL connection before reporting the database unreachable.
CONNECT_TIMEOUT_S = 10


def make_engine(url: str, *, pool_size: int = 10, relaxed: bool = False) -> Engine:
    """Create an engine for ``url`` (SQLite file or memory, or PostgreSQL via psycopg 3).

    SQLite: WAL journal, foreign keys on, ``synchronous=FULL`` (an acknowledged commit is on
    disk), busy timeout, and transactions begun explicitly (deferred for reads, IMMEDIATE for
    writes). PostgreSQL: a pre-pinged pool of ``pool_size`` connections per process, each
    connection attempt bounded by :data:`CONNECT_TIMEOUT_S`.

    ``relaxed=True`` gives up the last milliseconds of durability for speed
    (``synchronous=NORMAL`` on SQLite, ``synchronous_commit=off`` on PostgreSQL: a crash of the
    machine or of the database may lose the newest commits, never corrupt anything). Only the
    replay store uses it (``inoplan.persistence.replay``).
    """
    if url.startswith("sqlite"):
        return _sqlite_engine(url, relaxed=relaxed)
    from inoplan.optional import require

    require("psycopg", "a PostgreSQL database (postgresql+psycopg:// URL)")
    engine = create_engine(
        url,
        hide_parameters=True,  # SQL parameters carry patient data: never in logs or errors
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_timeout=60,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_S},
    )
    if relaxed:  # per connection, so the URL's own options (search_path ...) are kept

        @event.listens_for(engine, "connect")
        def _relax(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("SET synchronous_commit TO off")
            cursor.close()
            dbapi_connection.commit()

    return engine


def is_memory_url(url: str) -> bool:
    return url in {"sqlite://", "sqlite:///:memory:", "sqlite+pysqlite://"}


def _sqlite_engine(url: str, *, relaxed: bool = False) -> Engine:
    memory = is_memory_url(url)
    kwargs: dict[str, Any] = {
        "connect_args": {"check_same_thread": False, "timeout": 30},
        "hide_parameters": True,  # SQL parameters carry patient data: never in logs or errors
    }
    if memory:
        kwargs["poolclass"] = StaticPool  # one shared connection, else each gets its own DB
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL" if relaxed else "PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        write = connection.get_execution_options().get(WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def make_session_factory(engine: Engine, *, write: bool = False) -> sessionmaker[Session]:
    """Sessions on ``engine``; ``write=True`` sessions take SQLite's write lock when they begin."""
    bind = engine.execution_options(**{WRITE: True}) if write else engine
    return sessionmaker(bind=bind, expire_on_commit=False, autoflush=False)
