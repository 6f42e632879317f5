"""Baseline: the ops canary table.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ops_canary",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_canary")),
    )
    op.create_index(op.f("ix_ops_canary_written_at"), "ops_canary", ["written_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_ops_canary_written_at"), table_name="ops_canary")
    op.drop_table("ops_canary")
