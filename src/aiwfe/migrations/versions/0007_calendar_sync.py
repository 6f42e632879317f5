"""Calendar sync: a source per synced calendar (credentials, change markers, schedule) and its remote items.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 01:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calendar_sync_sources",
        sa.Column("calendar_id", sa.UUID(), nullable=False),
        sa.Column("username", sa.String(length=255), nullable=True),
        sa.Column("password_encrypted", sa.Text(), nullable=True),
        sa.Column("connected_account_id", sa.UUID(), nullable=True),
        sa.Column("remote_calendar_id", sa.String(length=1024), nullable=True),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.String(length=100), nullable=True),
        sa.Column("sync_token", sa.Text(), nullable=True),
        sa.Column("ctag", sa.Text(), nullable=True),
        sa.Column("next_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["calendar_id"],
            ["calendars.id"],
            name=op.f("fk_calendar_sync_sources_calendar_id_calendars"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["connected_account_id"],
            ["oauth_accounts.id"],
            name=op.f("fk_calendar_sync_sources_connected_account_id_oauth_accounts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("calendar_id", name=op.f("pk_calendar_sync_sources")),
    )
    op.create_index(
        op.f("ix_calendar_sync_sources_connected_account_id"),
        "calendar_sync_sources",
        ["connected_account_id"],
    )
    op.create_index(op.f("ix_calendar_sync_sources_next_sync_at"), "calendar_sync_sources", ["next_sync_at"])
    op.create_table(
        "calendar_sync_items",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("calendar_id", sa.UUID(), nullable=False),
        sa.Column("href", sa.Text(), nullable=False),
        sa.Column("uid", sa.String(length=255), nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("local_hash", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["calendar_id"],
            ["calendars.id"],
            name=op.f("fk_calendar_sync_items_calendar_id_calendars"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_sync_items")),
        sa.UniqueConstraint("calendar_id", "href", name="uq_calendar_sync_items_calendar_href"),
    )
    op.create_index("ix_calendar_sync_items_calendar_uid", "calendar_sync_items", ["calendar_id", "uid"])


def downgrade() -> None:
    op.drop_index("ix_calendar_sync_items_calendar_uid", table_name="calendar_sync_items")
    op.drop_table("calendar_sync_items")
    op.drop_index(op.f("ix_calendar_sync_sources_next_sync_at"), table_name="calendar_sync_sources")
    op.drop_index(op.f("ix_calendar_sync_sources_connected_account_id"), table_name="calendar_sync_sources")
    op.drop_table("calendar_sync_sources")
