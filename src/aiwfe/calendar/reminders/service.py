"""The reminders API's logic, with no HTTP: reminders of an event, in-app notifications, the user's webhook.
Events are looked up through the calendar service, so another user's event is simply not found.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import and_, delete, func, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from aiwfe.calendar.models import Event
from aiwfe.calendar.reminders import webhook
from aiwfe.calendar.reminders.errors import InvalidReminders, InvalidWebhook, NotificationNotFound
from aiwfe.calendar.reminders.models import Delivery, DeliveryStatus, Notification, Reminder, Webhook
from aiwfe.calendar.reminders.schemas import (
    NotificationOut,
    NotificationPage,
    ReminderIn,
    ReminderOut,
    WebhookOut,
)
from aiwfe.calendar.service import CalendarService
from aiwfe.core.crypto import encrypt
from aiwfe.core.settings import Settings


def _encode_cursor(created_at: datetime, notification_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(notification_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, notification_id = json.loads(raw)
        moment = datetime.fromisoformat(created)
        if moment.tzinfo is None:
            raise ValueError
        return moment, uuid.UUID(notification_id)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, AttributeError):
        raise InvalidReminders("cursor", "is not a cursor this API returned") from None


class ReminderService:
    def __init__(self, db: AsyncSession, settings: Settings, calendars: CalendarService) -> None:
        self.db = db
        self.settings = settings
        self.calendars = calendars

    # ---- reminders of an event -------------------------------------------------------------------

    async def _series_id(self, user_id: uuid.UUID, event_id: uuid.UUID) -> uuid.UUID:
        """Reminders belong to a whole series: an override's id stands for its series' master."""
        event = await self.calendars.event(user_id, event_id)
        if event.recurrence_id is None:
            return event.id
        master = await self.db.scalar(
            select(Event.id).where(
                Event.calendar_id == event.calendar_id, Event.uid == event.uid, Event.recurrence_id.is_(None)
            )
        )
        return master or event.id

    async def reminders(self, user_id: uuid.UUID, event_id: uuid.UUID) -> list[ReminderOut]:
        series_id = await self._series_id(user_id, event_id)
        rows = await self.db.scalars(
            select(Reminder)
            .where(Reminder.event_id == series_id)
            .order_by(Reminder.minutes_before, Reminder.channel)
        )
        return [ReminderOut(minutes_before=r.minutes_before, channel=r.channel) for r in rows]

    async def set_reminders(
        self, user_id: uuid.UUID, event_id: uuid.UUID, items: Sequence[ReminderIn]
    ) -> list[ReminderOut]:
        """Replace the event's reminders; recorded, untried deliveries no longer wanted are dropped."""
        wanted = {(item.minutes_before, item.channel) for item in items}
        if len(wanted) != len(items):
            raise InvalidReminders("reminders", "the same offset and channel appear twice")
        series_id = await self._series_id(user_id, event_id)
        # Serializes concurrent replacements of one event's reminders.
        await self.db.execute(select(Event.id).where(Event.id == series_id).with_for_update())
        await self.db.execute(delete(Reminder).where(Reminder.event_id == series_id))
        for minutes, channel in sorted(wanted):
            self.db.add(Reminder(event_id=series_id, minutes_before=minutes, channel=channel))
        unwanted = delete(Delivery).where(
            Delivery.event_id == series_id,
            Delivery.status == DeliveryStatus.PENDING,
            Delivery.attempts == 0,
        )
        if wanted:
            unwanted = unwanted.where(tuple_(Delivery.minutes_before, Delivery.channel).not_in(list(wanted)))
        await self.db.execute(unwanted)
        await self.db.commit()
        return await self.reminders(user_id, series_id)

    # ---- in-app notifications --------------------------------------------------------------------

    async def notifications(
        self, user_id: uuid.UUID, *, limit: int, cursor: str | None, unread_only: bool
    ) -> NotificationPage:
        """Newest first; ``next_cursor`` continues after the last item."""
        query = select(Notification).where(Notification.user_id == user_id)
        if unread_only:
            query = query.where(Notification.read_at.is_(None))
        if cursor:
            created, after_id = _decode_cursor(cursor)
            query = query.where(
                or_(
                    Notification.created_at < created,
                    and_(Notification.created_at == created, Notification.id < after_id),
                )
            )
        rows = list(
            await self.db.scalars(
                query.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit + 1)
            )
        )
        unread = await self.db.scalar(
            select(func.count()).where(Notification.user_id == user_id, Notification.read_at.is_(None))
        )
        page = rows[:limit]
        more = len(rows) > limit
        return NotificationPage(
            items=[NotificationOut.model_validate(row) for row in page],
            next_cursor=_encode_cursor(page[-1].created_at, page[-1].id) if more else None,
            unread=unread or 0,
        )

    async def mark_read(self, user_id: uuid.UUID, notification_id: uuid.UUID) -> NotificationOut:
        """Idempotent: reading a read notification keeps its first read time."""
        row = await self.db.scalar(
            update(Notification)
            .where(Notification.id == notification_id, Notification.user_id == user_id)
            .values(read_at=func.coalesce(Notification.read_at, func.now()))
            .returning(Notification)
        )
        if row is None:
            raise NotificationNotFound(f"no notification {notification_id}")
        await self.db.commit()
        return NotificationOut.model_validate(row)

    # ---- the user's webhook ----------------------------------------------------------------------

    async def webhook(self, user_id: uuid.UUID) -> WebhookOut:
        hook = await self.db.get(Webhook, user_id)
        if hook is None:
            return WebhookOut(url=None, secret_rotated_at=None)
        return WebhookOut(url=hook.url, secret_rotated_at=hook.secret_rotated_at)

    async def configure_webhook(
        self, user_id: uuid.UUID, url: str | None, *, set_url: bool, rotate_secret: bool
    ) -> WebhookOut:
        """Set (or clear, with ``None``) the URL when ``set_url``; a secret is made on first use or when
        rotated, and returned only in this answer."""
        if set_url and url is not None:
            try:
                await webhook.check_url(url, self.settings)
            except webhook.WebhookUrlError as exc:
                raise InvalidWebhook("url", str(exc)) from None
        hook = await self.db.get(Webhook, user_id, with_for_update=True)
        secret: str | None = None
        if hook is None or rotate_secret:
            secret = webhook.new_secret()
        if hook is None:
            assert secret is not None
            hook = Webhook(user_id=user_id, url=url, secret_encrypted=encrypt(self.settings, secret))
            self.db.add(hook)
        else:
            if set_url:
                hook.url = url
            if secret is not None:
                hook.secret_encrypted = encrypt(self.settings, secret)
                hook.secret_rotated_at = datetime.now(UTC)
        await self.db.commit()
        await self.db.refresh(hook)
        return WebhookOut(url=hook.url, secret_rotated_at=hook.secret_rotated_at, secret=secret)
