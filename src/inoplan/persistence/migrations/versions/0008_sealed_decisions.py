"""Sealed stored decisions: each ``current_decisions`` row carries a MAC under the audit key.

The MAC (HMAC-SHA256, ``inoplan.services.decision_store.seal``) covers the row's course, day,
course version, fingerprint, every column the Today list shows and the SHA-256 of the decision
JSON (``decision_sha256``); ``mac_key_id`` names the key. The key is outside the database, so a
migration cannot seal the rows already stored: they are deleted (derived data, recomputed from
the courses by the next Today list or ``inoplan decisions refresh``), so that a row without a MAC
can only have been written outside inoplan.

Revision ID: 0008_sealed_decisions
Revises: 0007_current_decisions
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_sealed_decisions"
down_revision = "0007_current_decisions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM current_decisions")
    with op.batch_alter_table("current_decisions") as batch:
        batch.add_column(sa.Column("decision_sha256", sa.String(64), nullable=True))
        batch.add_column(sa.Column("mac_key_id", sa.String(16), nullable=True))
        batch.add_column(sa.Column("mac", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("current_decisions") as batch:
        batch.drop_column("mac")
        batch.drop_column("mac_key_id")
        batch.drop_column("decision_sha256")
