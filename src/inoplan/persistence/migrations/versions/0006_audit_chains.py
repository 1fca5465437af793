"""Keyed audit chains: one HMAC chain per course (and per other entity), anchored in batches.

The single ``audit_head`` row, which every audit append locked until commit, is replaced by one
head row per chain (``audit_chains``). The records written so far become the ``legacy`` chain
(plain SHA-256, verifiable as before); new records carry their chain, their place in it, the
hash scheme and the id of the key. PostgreSQL allocates the global ``seq`` from a sequence.

Revision ID: 0006_audit_chains
Revises: 0005_treatment_days
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_audit_chains"
down_revision = "0005_treatment_days"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("audit_records") as batch:
        batch.add_column(
            sa.Column("chain", sa.String(128), nullable=False, server_default="legacy")
        )
        batch.add_column(
            sa.Column("chain_seq", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("scheme", sa.String(16), nullable=False, server_default="sha256")
        )
        batch.add_column(sa.Column("key_id", sa.String(16), nullable=True))
    op.execute("UPDATE audit_records SET chain_seq = seq")
    op.create_index(
        "uq_audit_records_chain_seq", "audit_records", ["chain", "chain_seq"], unique=True
    )
    chains = op.create_table(
        "audit_chains",
        sa.Column("chain", sa.String(128), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "audit_anchored",
        sa.Column("chain", sa.String(128), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
    )
    head = bind.execute(sa.text("SELECT seq, hash FROM audit_head WHERE id = 1")).first()
    if head is not None and int(head[0]) > 0:
        op.bulk_insert(chains, [{"chain": "legacy", "seq": int(head[0]), "hash": str(head[1])}])
    op.drop_table("audit_head")
    if bind.dialect.name == "postgresql":
        newest = bind.execute(sa.text("SELECT coalesce(max(seq), 0) FROM audit_records")).scalar()
        op.execute(f"CREATE SEQUENCE audit_records_seq START WITH {int(newest or 0) + 1}")


def downgrade() -> None:
    bind = op.get_bind()
    keyed = bind.execute(
        sa.text("SELECT count(*) FROM audit_records WHERE chain <> 'legacy'")
    ).scalar()
    if keyed:
        raise RuntimeError(
            f"{keyed} keyed audit records exist; the older schema cannot hold them, so this "
            "downgrade would lose audit records: restore a backup taken before the upgrade"
        )
    if bind.dialect.name == "postgresql":
        op.execute("DROP SEQUENCE IF EXISTS audit_records_seq")
    legacy = bind.execute(sa.text("SELECT seq, hash FROM audit_chains WHERE chain = 'legacy'"))
    row = legacy.first()
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    seq, digest = (int(row[0]), str(row[1])) if row is not None else (0, GENESIS)
    op.bulk_insert(head, [{"id": 1, "seq": seq, "hash": digest}])
    op.drop_table("audit_anchored")
    op.drop_table("audit_chains")
    op.drop_index("uq_audit_records_chain_seq", table_name="audit_records")
    with op.batch_alter_table("audit_records") as batch:
        batch.drop_column("key_id")
        batch.drop_column("scheme")
        batch.drop_column("chain_seq")
        batch.drop_column("chain")
