"""Run the Alembic migrations shipped inside the package (``inoplan db upgrade``, ``serve``).

Several workers may start at once: on PostgreSQL the upgrade holds an advisory lock, on SQLite
it runs inside a ``BEGIN IMMEDIATE`` transaction, so exactly one of them migrates and the
others find the schema at head.
"""

from __future__ import annotations

import functools

from sqlalchemy import Engine, text

from inoplan.persistence.engine import WRITE

__all__ = ["HEAD", "current_revision", "head_revision", "upgrade"]

HEAD = "head"
_LOCK_ID = 0x1A0B1A  # advisory lock key for migrations ("inoplan")


def _config(connection: object) -> object:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "inoplan.persistence:migrations")
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = HEAD) -> str | None:
    """Bring the schema to ``revision`` (default: newest); returns the revision now current."""
    from alembic import command

    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_ID})
            connection.commit()
            try:
                command.upgrade(_config(connection), revision)  # type: ignore[arg-type]
                connection.commit()
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_ID})
                connection.commit()
    else:
        with engine.execution_options(**{WRITE: True}).begin() as connection:
            command.upgrade(_config(connection), revision)  # type: ignore[arg-type]
    return current_revision(engine)


@functools.cache
def head_revision() -> str:
    """The newest revision shipped in the package (what ``upgrade`` brings a database to)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config(None)).get_current_head()  # type: ignore[arg-type]
    if head is None:  # pragma: no cover - the package always ships migrations
        raise RuntimeError("no migrations shipped")
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
