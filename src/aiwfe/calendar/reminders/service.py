"""The reminders API's logic, with no HTTP: reminders of an event, in-app notifications, the user's webhook.
Events are looked up through the event service, so another user's event is simply not found.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import and_, delete, func, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from aiwfe.calendar.events import EventService
from aiwfe.calendar.models import Event
from aiwfe.calendar.reminders import webhook
from aiwfe.calendar.reminders.errors import InvalidReminders, InvalidWebhook, NotificationNotFound
from aiwfe.calendar.reminders.models import Channel, Delivery, DeliveryStatus, Notification, Reminder, Webhook
from aiwfe.calendar.reminders.schemas import (
    NotificationOut,
    NotificationPage,
    ReminderIn,
    ReminderOut,
    WebhookDeliveryOut,
    WebhookOut,
    WebhookTestOut,
)
from aiwfe.core import resilience
from aiwfe.core.crypto import decrypt, encrypt
from aiwfe.core.cursors import decode_cursor, encode_cursor
from aiwfe.core.settings import Settings


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        created, notification_id = decode_cursor(cursor)
        return created, uuid.UUID(notification_id)
    except ValueError:  # BadCursor, or not an id
        raise InvalidReminders("cursor", "is not a cursor this API returned") from None


class ReminderService:
    def __init__(self, db: AsyncSession, settings: Settings, events: EventService) -> None:
        self.db = db
        self.settings = settings
        self.events = events

    # ---- reminders of an event -------------------------------------------------------------------

    async def _series_id(self, user_id: uuid.UUID, event_id: uuid.UUID) -> uuid.UUID:
        """Reminders belong to a whole series: an override's id stands for its series' master."""
        event = await self.events.event(user_id, event_id)
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
            next_cursor=encode_cursor(page[-1].created_at, str(page[-1].id)) if more else None,
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

    async def mark_all_read(self, user_id: uuid.UUID) -> int:
        result = await self.db.execute(
            update(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
            .values(read_at=func.now())
            .returning(Notification.id)
        )
        marked = len(result.all())
        await self.db.commit()
        return marked

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

    async def webhook_deliveries(self, user_id: uuid.UUID, limit: int) -> list[WebhookDeliveryOut]:
        """The latest webhook deliveries by due time, with the event's title."""
        rows = await self.db.execute(
            select(Delivery, Event.summary)
            .join(Event, Event.id == Delivery.event_id)
            .where(Delivery.user_id == user_id, Delivery.channel == Channel.WEBHOOK)
            .order_by(Delivery.due_at.desc(), Delivery.id.desc())
            .limit(limit)
        )
        return [
            WebhookDeliveryOut(
                id=row.id,
                event_id=row.event_id,
                summary=summary,
                occurrence_start=row.occurrence_start,
                due_at=row.due_at,
                status=row.status,
                late=row.late,
                attempts=row.attempts,
                sent_at=row.sent_at,
                error=row.error,
            )
            for row, summary in rows.all()
        ]

    async def send_test_webhook(self, user_id: uuid.UUID) -> WebhookTestOut:
        """POST a signed ``webhook.test`` body to the URL now, through the same checks, retries and
        breaker as a reminder, and say how the receiver answered."""
        hook = await self.db.get(Webhook, user_id)
        if hook is None or not hook.url:
            raise InvalidWebhook("url", "set a webhook URL first")
        url, secret = hook.url, decrypt(self.settings, hook.secret_encrypted)
        await self.db.commit()  # no transaction held open across the HTTP exchange
        test_id = str(uuid.uuid4())
        body = json.dumps(
            {"delivery_id": test_id, "sent_at": datetime.now(UTC).isoformat(), "type": "webhook.test"},
            separators=(",", ":"),
            sort_keys=True,
        ).encode()
        try:
            status = await webhook.post(self.settings, url, secret, body, test_id)
        except webhook.WebhookUrlError as exc:
            raise InvalidWebhook("url", str(exc)) from None
        except webhook.WebhookRejected as exc:
            return WebhookTestOut(ok=False, status_code=_status_of(str(exc)), detail=str(exc))
        except (webhook.WebhookFailed, resilience.CircuitOpen) as exc:
            detail = str(exc) or "the receiver's circuit is open after repeated failures; try again later"
            return WebhookTestOut(ok=False, status_code=_status_of(detail), detail=detail)
        return WebhookTestOut(ok=True, status_code=status, detail=f"the receiver answered HTTP {status}")


def _status_of(message: str) -> int | None:
    """The HTTP status in ``webhook``'s "the receiver answered HTTP 503" messages, if any."""
    head, _, tail = message.rpartition("HTTP ")
    return int(tail) if head and tail.isdigit() else None
