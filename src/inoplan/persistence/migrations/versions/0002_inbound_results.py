"""Result feeds: the inbound message store (HL7 v2 and FHIR), idempotency and review queue.

Revision ID: 0002_inbound_results
Revises: 0001_initial
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_inbound_results"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "inbound_messages",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("dedupe_key", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("sender", sa.String(255), nullable=False),
        sa.Column("control_id", sa.String(255), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("version", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("ack_code", sa.String(2), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("event_ids", sa.JSON(), nullable=False),
        sa.Column("course_id", sa.BigInteger(), nullable=True),
        sa.Column("decision_status", sa.String(32), nullable=True),
        sa.Column("received_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("resolved_by", sa.String(64), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.UniqueConstraint("dedupe_key", name="uq_inbound_messages_dedupe_key"),
    )
    op.create_index("ix_inbound_messages_state", "inbound_messages", ["state"])


def downgrade() -> None:
    op.drop_index("ix_inbound_messages_state", table_name="inbound_messages")
    op.drop_table("inbound_messages")
