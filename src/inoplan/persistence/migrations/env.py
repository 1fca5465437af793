"""Alembic environment: runs on the connection handed over by ``inoplan.persistence.migrate``."""

from __future__ import annotations

from alembic import context

from inoplan.persistence.rows import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - always called through persistence.migrate
    raise RuntimeError("run migrations with 'inoplan db upgrade'")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # ALTER TABLE on SQLite
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
