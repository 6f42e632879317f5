"""Calendar tables: calendars, events (masters, single events, overrides) and ICS import jobs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 22:36:42.531866
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calendars",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("owner_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("color", sa.String(length=7), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column(
            "source", sa.Enum("local", "ics", "caldav", "google", name="calendar_source"), nullable=False
        ),
        sa.Column("source_url", sa.Text(), nullable=True),
        sa.Column(
            "sync_status",
            sa.Enum("not_synced", "pending", "syncing", "ok", "error", name="calendar_sync_status"),
            nullable=False,
        ),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sync_error", sa.Text(), nullable=True),
        sa.Column("feed_token_hash", sa.String(length=64), nullable=True),
        sa.Column("version", sa.BigInteger(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_calendars_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendars")),
        sa.UniqueConstraint("feed_token_hash", name=op.f("uq_calendars_feed_token_hash")),
    )
    op.create_index(op.f("ix_calendars_owner_id"), "calendars", ["owner_id"], unique=False)
    op.create_table(
        "calendar_events",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("calendar_id", sa.UUID(), nullable=False),
        sa.Column("uid", sa.String(length=255), nullable=False),
        sa.Column("recurrence_id", sa.String(length=20), nullable=True),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("location", sa.String(length=500), nullable=False),
        sa.Column("all_day", sa.Boolean(), nullable=False),
        sa.Column("dtstart", sa.DateTime(), nullable=False),
        sa.Column("dtend", sa.DateTime(), nullable=False),
        sa.Column("tzid", sa.String(length=64), nullable=True),
        sa.Column("rrule", sa.String(length=1000), nullable=True),
        sa.Column("rdates", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("exdates", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "status", sa.Enum("tentative", "confirmed", "cancelled", name="event_status"), nullable=False
        ),
        sa.Column(
            "transparency", sa.Enum("opaque", "transparent", name="event_transparency"), nullable=False
        ),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("etag", sa.String(length=32), nullable=False),
        sa.Column("span_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("span_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["calendar_id"],
            ["calendars.id"],
            name=op.f("fk_calendar_events_calendar_id_calendars"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_events")),
    )
    op.create_index(
        "ix_calendar_events_span", "calendar_events", ["calendar_id", "span_start", "span_end"], unique=False
    )
    op.create_index(
        "uq_calendar_events_master_uid",
        "calendar_events",
        ["calendar_id", "uid"],
        unique=True,
        postgresql_where=sa.text("recurrence_id IS NULL"),
    )
    op.create_index(
        "uq_calendar_events_override",
        "calendar_events",
        ["calendar_id", "uid", "recurrence_id"],
        unique=True,
        postgresql_where=sa.text("recurrence_id IS NOT NULL"),
    )
    op.create_table(
        "calendar_imports",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("calendar_id", sa.UUID(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "running", "succeeded", "failed", name="calendar_import_status"),
            nullable=False,
        ),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["calendar_id"],
            ["calendars.id"],
            name=op.f("fk_calendar_imports_calendar_id_calendars"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_imports")),
    )
    op.create_index(
        op.f("ix_calendar_imports_calendar_id"), "calendar_imports", ["calendar_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_calendar_imports_calendar_id"), table_name="calendar_imports")
    op.drop_table("calendar_imports")
    op.drop_index(
        "uq_calendar_events_override",
        table_name="calendar_events",
        postgresql_where=sa.text("recurrence_id IS NOT NULL"),
    )
    op.drop_index(
        "uq_calendar_events_master_uid",
        table_name="calendar_events",
        postgresql_where=sa.text("recurrence_id IS NULL"),
    )
    op.drop_index("ix_calendar_events_span", table_name="calendar_events")
    op.drop_table("calendar_events")
    op.drop_index(op.f("ix_calendars_owner_id"), table_name="calendars")
    op.drop_table("calendars")
    for enum_name in (
        "calendar_import_status",
        "event_transparency",
        "event_status",
        "calendar_sync_status",
        "calendar_source",
    ):
        sa.Enum(name=enum_name).drop(op.get_bind(), checkfirst=True)
