"""CalDAV server: per-resource change log for sync-collection (RFC 6578) and client-chosen resource names.

``caldav_changes`` holds one row per (calendar, UID) ever written, labelled with the calendar version that
wrote it; a UID whose rows are gone is a tombstone. Triggers keep it exact for every writer (REST, CalDAV,
imports, sync): a write to ``calendar_events`` marks its UID with this transaction's id, and the calendar's
version bump relabels this transaction's marks with the new version. No extra lock is taken.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MARK_FUNCTION = """
CREATE FUNCTION caldav_mark_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO caldav_changes (calendar_id, uid, version, txid)
        SELECT OLD.calendar_id, OLD.uid, c.version + 1, txid_current()
        FROM calendars c WHERE c.id = OLD.calendar_id
        ON CONFLICT (calendar_id, uid) DO UPDATE SET version = EXCLUDED.version, txid = EXCLUDED.txid;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO caldav_changes (calendar_id, uid, version, txid)
        SELECT NEW.calendar_id, NEW.uid, c.version + 1, txid_current()
        FROM calendars c WHERE c.id = NEW.calendar_id
        ON CONFLICT (calendar_id, uid) DO UPDATE SET version = EXCLUDED.version, txid = EXCLUDED.txid;
    END IF;
    RETURN NULL;
END
$$
"""
MARK_TRIGGER = """
CREATE TRIGGER calendar_events_caldav_change AFTER INSERT OR UPDATE OR DELETE ON calendar_events
    FOR EACH ROW EXECUTE FUNCTION caldav_mark_change()
"""
LABEL_FUNCTION = """
CREATE FUNCTION caldav_label_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE caldav_changes SET version = NEW.version
    WHERE calendar_id = NEW.id AND txid = txid_current() AND version <> NEW.version;
    RETURN NULL;
END
$$
"""
LABEL_TRIGGER = """
CREATE TRIGGER calendars_caldav_version AFTER UPDATE OF version ON calendars
    FOR EACH ROW WHEN (NEW.version <> OLD.version) EXECUTE FUNCTION caldav_label_changes()
"""


def upgrade() -> None:
    op.create_table(
        "caldav_changes",
        sa.Column("calendar_id", sa.UUID(), nullable=False),
        sa.Column("uid", sa.String(length=255), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("txid", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["calendar_id"],
            ["calendars.id"],
            name=op.f("fk_caldav_changes_calendar_id_calendars"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("calendar_id", "uid", name=op.f("pk_caldav_changes")),
    )
    op.create_index("ix_caldav_changes_version", "caldav_changes", ["calendar_id", "version"])
    op.create_index("ix_caldav_changes_txid", "caldav_changes", ["calendar_id", "txid"])
    op.create_table(
        "caldav_names",
        sa.Column("calendar_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("uid", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["calendar_id"],
            ["calendars.id"],
            name=op.f("fk_caldav_names_calendar_id_calendars"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("calendar_id", "name", name=op.f("pk_caldav_names")),
        sa.UniqueConstraint("calendar_id", "uid", name=op.f("uq_caldav_names_calendar_id")),
    )
    # One statement per call: asyncpg prepares each, and a prepared statement holds one command.
    for statement in (MARK_FUNCTION, MARK_TRIGGER, LABEL_FUNCTION, LABEL_TRIGGER):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS calendars_caldav_version ON calendars")
    op.execute("DROP FUNCTION IF EXISTS caldav_label_changes()")
    op.execute("DROP TRIGGER IF EXISTS calendar_events_caldav_change ON calendar_events")
    op.execute("DROP FUNCTION IF EXISTS caldav_mark_change()")
    op.drop_table("caldav_names")
    op.drop_index("ix_caldav_changes_txid", table_name="caldav_changes")
    op.drop_index("ix_caldav_changes_version", table_name="caldav_changes")
    op.drop_table("caldav_changes")
