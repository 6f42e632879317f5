"""Tables of reminders: settings per event, the delivery ledger (its unique key is the exactly-once record),
in-app notifications, each user's webhook and the scanner's high-water mark.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from aiwfe.core.db import Base

MAX_MINUTES_BEFORE = 40320  # four weeks


class Channel(enum.StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"
    IN_APP = "in_app"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # recorded, waiting for a worker (or for its retry time in ``lease_until``)
    SENDING = "sending"  # claimed by a worker until ``lease_until``
    SENT = "sent"
    SKIPPED = "skipped"  # missed by more than the grace window: never sent
    FAILED = "failed"  # every attempt failed


def _values(enum_type: type[enum.Enum]) -> list[str]:
    return [str(member.value) for member in enum_type]


CHANNEL_TYPE = Enum(Channel, name="reminder_channel", values_callable=_values)
STATUS_TYPE = Enum(DeliveryStatus, name="reminder_delivery_status", values_callable=_values)


class Reminder(Base):
    """Remind ``minutes_before`` each occurrence of an event (a series' master) through ``channel``."""

    __tablename__ = "event_reminders"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("calendar_events.id", ondelete="CASCADE"))
    minutes_before: Mapped[int] = mapped_column(Integer)
    channel: Mapped[Channel] = mapped_column(CHANNEL_TYPE)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint(
            f"minutes_before >= 0 AND minutes_before <= {MAX_MINUTES_BEFORE}", name="minutes_before_range"
        ),
        UniqueConstraint(
            "event_id", "minutes_before", "channel", name="uq_event_reminders_event_offset_channel"
        ),
    )


class Delivery(Base):
    """One reminder of one occurrence through one channel. The unique key makes it happen once:
    every scan inserts with ON CONFLICT DO NOTHING and a worker claims the row before it sends.
    """

    __tablename__ = "reminder_deliveries"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("calendar_events.id", ondelete="CASCADE"))
    occurrence_key: Mapped[str] = mapped_column(String(20))
    minutes_before: Mapped[int] = mapped_column(Integer)
    channel: Mapped[Channel] = mapped_column(CHANNEL_TYPE)
    occurrence_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[DeliveryStatus] = mapped_column(
        STATUS_TYPE, default=DeliveryStatus.PENDING, server_default=DeliveryStatus.PENDING.value
    )
    late: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        UniqueConstraint(
            "event_id", "occurrence_key", "minutes_before", "channel", name="uq_reminder_deliveries_once"
        ),
        Index(
            "ix_reminder_deliveries_claimable",
            "status",
            "lease_until",
            postgresql_where=text("status IN ('pending', 'sending')"),
        ),
    )


class Notification(Base):
    """An in-app notification the user lists and marks read."""

    __tablename__ = "notifications"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text, default="", server_default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    delivery_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("reminder_deliveries.id", ondelete="SET NULL"), unique=True
    )
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_notifications_user_created", "user_id", "created_at"),)


class Webhook(Base):
    """A user's reminder webhook: where to POST, and the HMAC secret (encrypted at rest)."""

    __tablename__ = "reminder_webhooks"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    url: Mapped[str | None] = mapped_column(Text)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    secret_rotated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class ScanMark(Base):
    """Up to when the scanner has looked (one row per scanner, locked while a scan runs)."""

    __tablename__ = "reminder_scans"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    last_scan_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
