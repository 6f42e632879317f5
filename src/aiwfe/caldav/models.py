"""Tables of the CalDAV server: the per-resource change log behind sync tokens, and resource names.

Both are written by database triggers or by the CalDAV service only; see migration 0009.
"""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from aiwfe.core.db import Base


class Change(Base):
    """The last calendar version that touched a UID; a UID with no events left is a tombstone."""

    __tablename__ = "caldav_changes"

    calendar_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("calendars.id", ondelete="CASCADE"), primary_key=True
    )
    uid: Mapped[str] = mapped_column(String(255), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    # The writing transaction, so the version bump at its end can relabel its changes.
    txid: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_caldav_changes_version", "calendar_id", "version"),
        Index("ix_caldav_changes_txid", "calendar_id", "txid"),
    )


class ResourceName(Base):
    """A client's own name for a resource (``PUT .../work-meeting.ics`` holding another UID).

    Without a row a resource is named after its UID; clients must see the name they chose.
    """

    __tablename__ = "caldav_names"

    calendar_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("calendars.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(300), primary_key=True)
    uid: Mapped[str] = mapped_column(String(255))

    __table_args__ = (UniqueConstraint("calendar_id", "uid", name="uq_caldav_names_calendar_id"),)
