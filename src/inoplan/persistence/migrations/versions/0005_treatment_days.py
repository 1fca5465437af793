"""Treatment days: the state of each dose (ordered -> released -> verified -> prepared -> given).

One row per course, cycle and day once the day has left "ordered" (a dose without a row is
ordered). ``version`` counts the transitions; every transition is an
``UPDATE ... WHERE version = :expected`` (or the first insert, unique per course, cycle and day),
so two workers cannot both move the same day. ``steps`` keeps what each transition recorded
(who, when, the second signer, lot and expiry, times); the audit trail has the same in its
hash chain (``inoplan.services.workflow``).

Revision ID: 0005_treatment_days
Revises: 0004_acknowledgements
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_treatment_days"
down_revision = "0004_acknowledgements"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "treatment_days",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("course_id", sa.BigInteger(), sa.ForeignKey("courses.id"), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.UniqueConstraint("course_id", "cycle", "day", name="uq_treatment_days_course_day"),
    )
    op.create_index("ix_treatment_days_course_id", "treatment_days", ["course_id"])


def downgrade() -> None:
    op.drop_index("ix_treatment_days_course_id", table_name="treatment_days")
    op.drop_table("treatment_days")
