"""Acknowledgements: a prescriber saw that a course's decision is to stop treatment.

Revision ID: 0004_acknowledgements
Revises: 0003_security
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_acknowledgements"
down_revision = "0003_security"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "acknowledgements",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("course_id", sa.BigInteger(), sa.ForeignKey("courses.id"), nullable=False),
        sa.Column("course_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("acknowledged_at", TZ, nullable=False),
        sa.Column("acknowledged_by", sa.String(64), nullable=False),
    )
    op.create_index("ix_acknowledgements_course_id", "acknowledgements", ["course_id"])


def downgrade() -> None:
    op.drop_index("ix_acknowledgements_course_id", table_name="acknowledgements")
    op.drop_table("acknowledgements")
