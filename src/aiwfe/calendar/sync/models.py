"""Tables of calendar sync: one source per synced calendar (where, credentials, the remote's change
markers, when next) and one row per remote resource (its href and ETag, and what we last saw locally).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from aiwfe.core.db import Base


class SyncSource(Base):
    """Where a synced calendar comes from and how far we got.

    ``etag``/``last_modified`` serve the ICS URL's conditional GET; ``sync_token`` is CalDAV's
    (RFC 6578) or Google's ``nextSyncToken``; ``ctag`` is CalDAV's getctag, the fallback when the server
    offers no sync-collection. The CalDAV password is MultiFernet-encrypted and never leaves the server.
    """

    __tablename__ = "calendar_sync_sources"

    calendar_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("calendars.id", ondelete="CASCADE"), primary_key=True
    )
    username: Mapped[str | None] = mapped_column(String(255))
    password_encrypted: Mapped[str | None] = mapped_column(Text)
    connected_account_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("oauth_accounts.id", ondelete="SET NULL"), index=True
    )
    remote_calendar_id: Mapped[str | None] = mapped_column(String(1024))
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(String(100))
    sync_token: Mapped[str | None] = mapped_column(Text)
    ctag: Mapped[str | None] = mapped_column(Text)
    next_sync_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


class SyncItem(Base):
    """One remote resource of a synced calendar: a CalDAV object (href) or a Google event (id).

    ``uid`` names the local series it became; ``local_hash`` is a digest of that series' event ETags
    when it was last synced, so a later difference means a local edit to push (two-way CalDAV).
    """

    __tablename__ = "calendar_sync_items"
    __table_args__ = (
        UniqueConstraint("calendar_id", "href", name="uq_calendar_sync_items_calendar_href"),
        Index("ix_calendar_sync_items_calendar_uid", "calendar_id", "uid"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    calendar_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("calendars.id", ondelete="CASCADE"))
    href: Mapped[str] = mapped_column(Text)
    uid: Mapped[str] = mapped_column(String(255))
    etag: Mapped[str | None] = mapped_column(Text)
    local_hash: Mapped[str | None] = mapped_column(String(64))
