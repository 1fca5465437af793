"""Appointments: the clinic's booked time for a treatment day.

One row per course, cycle and day (``inoplan.services.appointments``): when the patient is
booked for that dose, on the day the engine plans it. ``version`` counts changes
(compare-and-set, like ``treatment_days``); every change has its audit record in the course's
chain. The Today worklist shows the time and orders a day's patients by it.

Revision ID: 0009_appointments
Revises: 0008_sealed_decisions
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_appointments"
down_revision = "0008_sealed_decisions"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "appointments",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("course_id", sa.BigInteger(), sa.ForeignKey("courses.id"), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("starts_at", TZ, nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.UniqueConstraint("course_id", "cycle", "day", name="uq_appointments_course_day"),
    )
    op.create_index("ix_appointments_course_id", "appointments", ["course_id"])
    op.create_index("ix_appointments_starts_at", "appointments", ["starts_at"])


def downgrade() -> None:
    op.drop_index("ix_appointments_starts_at", table_name="appointments")
    op.drop_index("ix_appointments_course_id", table_name="appointments")
    op.drop_table("appointments")
