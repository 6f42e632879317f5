"""Tables of the calendar domain: calendars, events (series masters, single events and per-occurrence
overrides, stored iCalendar-style as wall-clock times plus a TZID) and ICS import jobs.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

# Imported with the tables so that every process that can write them has the hooks that bump stamps.
from aiwfe.calendar import stamps  # noqa: F401
from aiwfe.core.db import Base


def _values(enum_type: type[enum.Enum]) -> list[str]:
    return [str(member.value) for member in enum_type]


class CalendarSource(enum.StrEnum):
    LOCAL = "local"
    ICS = "ics"
    CALDAV = "caldav"
    GOOGLE = "google"


class SyncStatus(enum.StrEnum):
    NOT_SYNCED = "not_synced"
    PENDING = "pending"
    SYNCING = "syncing"
    OK = "ok"
    ERROR = "error"


class EventStatus(enum.StrEnum):
    TENTATIVE = "tentative"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


class Transparency(enum.StrEnum):
    OPAQUE = "opaque"
    TRANSPARENT = "transparent"


class ImportStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def _now_column() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Calendar(Base):
    """A user's calendar. ``version`` grows with every change to it or its events (ETags, caches)."""

    __tablename__ = "calendars"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    color: Mapped[str] = mapped_column(String(7), default="#3b82f6")
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    source: Mapped[CalendarSource] = mapped_column(
        Enum(CalendarSource, name="calendar_source", values_callable=_values), default=CalendarSource.LOCAL
    )
    source_url: Mapped[str | None] = mapped_column(Text)
    sync_status: Mapped[SyncStatus] = mapped_column(
        Enum(SyncStatus, name="calendar_sync_status", values_callable=_values),
        default=SyncStatus.NOT_SYNCED,
    )
    last_synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sync_error: Mapped[str | None] = mapped_column(Text)
    feed_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    version: Mapped[int] = mapped_column(BigInteger, default=1, server_default=text("1"))
    created_at: Mapped[datetime] = _now_column()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


class Event(Base):
    """One VEVENT: a single event, a recurring series' master, or an override of one occurrence.

    Times are wall clock (``dtstart``/``dtend``, naive) in ``tzid``; all-day events have no ``tzid``
    and midnight times. Occurrences are named by a *recurrence key*: the UTC instant
    (``2024-03-10T08:00:00Z``) or, all-day, the date (``2024-03-10``); ``rdates``, ``exdates`` and an
    override's ``recurrence_id`` hold keys. ``span_start``/``span_end`` bound every occurrence in UTC
    (``span_end`` NULL = unbounded) so a range query reads only candidate rows.
    """

    __tablename__ = "calendar_events"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    calendar_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("calendars.id", ondelete="CASCADE"))
    uid: Mapped[str] = mapped_column(String(255))
    recurrence_id: Mapped[str | None] = mapped_column(String(20))
    summary: Mapped[str] = mapped_column(String(500), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[str] = mapped_column(String(500), default="")
    all_day: Mapped[bool] = mapped_column(Boolean, default=False)
    dtstart: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    dtend: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    tzid: Mapped[str | None] = mapped_column(String(64))
    rrule: Mapped[str | None] = mapped_column(String(1000))
    rdates: Mapped[list[str]] = mapped_column(JSONB, default=list)
    exdates: Mapped[list[str]] = mapped_column(JSONB, default=list)
    status: Mapped[EventStatus] = mapped_column(
        Enum(EventStatus, name="event_status", values_callable=_values), default=EventStatus.CONFIRMED
    )
    transparency: Mapped[Transparency] = mapped_column(
        Enum(Transparency, name="event_transparency", values_callable=_values), default=Transparency.OPAQUE
    )
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    etag: Mapped[str] = mapped_column(String(32))
    span_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    span_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now_column()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )

    __table_args__ = (
        # One master per UID and one override per (UID, occurrence) in a calendar.
        Index(
            "uq_calendar_events_master_uid",
            "calendar_id",
            "uid",
            unique=True,
            postgresql_where=text("recurrence_id IS NULL"),
        ),
        Index(
            "uq_calendar_events_override",
            "calendar_id",
            "uid",
            "recurrence_id",
            unique=True,
            postgresql_where=text("recurrence_id IS NOT NULL"),
        ),
        Index("ix_calendar_events_span", "calendar_id", "span_start", "span_end"),
    )
    # The INSERT and UPDATE return the server-set timestamps (RETURNING): a write's answer needs no
    # SELECT after its commit to read them back.
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012 (SQLAlchemy reads it from the class)

    @property
    def is_recurring(self) -> bool:
        return bool(self.rrule or self.rdates)


class CalendarImport(Base):
    """An .ics import run by the worker; the upload waits in ``payload`` until the job finishes."""

    __tablename__ = "calendar_imports"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    calendar_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("calendars.id", ondelete="CASCADE"), index=True)
    status: Mapped[ImportStatus] = mapped_column(
        Enum(ImportStatus, name="calendar_import_status", values_callable=_values),
        default=ImportStatus.PENDING,
    )
    size_bytes: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    payload: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = _now_column()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
