"""Current decisions: each course's decision for a day, stored when it changes.

One row per course and day, with the course version and the knowledge/policy fingerprint it was
computed for (``inoplan.services.decisions``). The Today list reads them in one query; a row
whose version, day or fingerprint is not current is recomputed, never served.

Revision ID: 0007_current_decisions
Revises: 0006_audit_chains
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_current_decisions"
down_revision = "0006_audit_chains"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "current_decisions",
        sa.Column("course_id", sa.BigInteger(), sa.ForeignKey("courses.id"), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("course_version", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        # what the Today list shows, as plain columns (no JSON to decode per listed course)
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("critical", sa.Integer(), nullable=False),
        sa.Column("warnings", sa.Integer(), nullable=False),
        sa.Column("critical_codes", sa.Text(), nullable=False),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("reason_rules", sa.Text(), nullable=False),
        sa.Column("next_cycle", sa.Integer(), nullable=True),
        sa.Column("next_day", sa.Integer(), nullable=True),
        sa.Column("next_scheduled", sa.String(10), nullable=True),
        sa.Column("next_dose_mg", sa.Float(), nullable=True),
        sa.Column("next_dose_mg_per_m2", sa.Float(), nullable=True),
        sa.Column("decision", sa.JSON(), nullable=False),
        sa.Column("computed_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("course_id", "as_of", name="pk_current_decisions"),
    )
    op.create_index("ix_current_decisions_as_of", "current_decisions", ["as_of"])


def downgrade() -> None:
    op.drop_index("ix_current_decisions_as_of", table_name="current_decisions")
    op.drop_table("current_decisions")
