"""Initial schema: patients, courses, events, decisions, users, audit trail, CDS jti.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "patients",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("external_id", sa.String(64), nullable=False, unique=True),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("sex", sa.String(16), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "courses",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("patient_id", sa.BigInteger(), sa.ForeignKey("patients.id"), nullable=False),
        sa.Column("label", sa.String(32), nullable=False),
        sa.Column("label_revision", sa.String(32), nullable=False),
        sa.Column("patient_doc", sa.JSON(), nullable=False),
        sa.Column("plan_doc", sa.JSON(), nullable=False),
        sa.Column("has_label", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_index("ix_courses_patient_id", "courses", ["patient_id"])
    op.create_table(
        "events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("course_id", sa.BigInteger(), sa.ForeignKey("courses.id"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("supersedes", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("recorded_at", TZ, nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        sa.UniqueConstraint("course_id", "position", name="uq_events_course_position"),
    )
    op.create_table(
        "decisions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("course_id", sa.BigInteger(), sa.ForeignKey("courses.id"), nullable=False),
        sa.Column("course_version", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("label_revision", sa.String(32), nullable=False),
        sa.Column("engine_version", sa.String(32), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("decision", sa.JSON(), nullable=False),
        sa.Column("shown_at", TZ, nullable=False),
        sa.Column("shown_to", sa.String(64), nullable=False),
    )
    op.create_index("ix_decisions_course_id", "decisions", ["course_id"])
    op.create_table(
        "users",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "audit_records",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("seq", sa.BigInteger(), nullable=False, unique=True),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("entity_id", sa.String(64), nullable=True),
        sa.Column("course_id", sa.BigInteger(), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_records_course_id", "audit_records", ["course_id"])
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": "0" * 64}])
    op.create_table(
        "cds_jti",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("iss", sa.String(512), nullable=False),
        sa.Column("jti", sa.String(255), nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.UniqueConstraint("iss", "jti", name="uq_cds_jti_iss_jti"),
    )
    op.create_index("ix_cds_jti_expires_at", "cds_jti", ["expires_at"])


def downgrade() -> None:
    for table in (
        "cds_jti",
        "audit_head",
        "audit_records",
        "users",
        "decisions",
        "events",
        "courses",
        "patients",
    ):
        op.drop_table(table)
