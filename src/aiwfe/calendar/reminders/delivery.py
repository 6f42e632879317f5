"""Sending one recorded reminder: claim the row (an atomic UPDATE ... RETURNING, so two workers never both
get it), send through its channel, mark it sent.

A claim is a lease: if the worker dies mid-send, the row becomes claimable again when the lease ends and the
next scan hands it to another worker. The resend carries the same delivery id (webhook ``Idempotency-Key``,
email ``Message-ID``) so the receiver can drop the copy; in-app notifications are written in the same
transaction that marks the row sent, so they exist exactly once. A failed attempt puts the row back with a
retry time (exponential backoff, one scan at least) until ``AIWFE_REMINDERS_MAX_ATTEMPTS``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiwfe.auth.models import User
from aiwfe.calendar.models import Calendar, Event
from aiwfe.calendar.reminders import metrics, webhook
from aiwfe.calendar.reminders.models import Channel, Delivery, DeliveryStatus, Notification, Webhook
from aiwfe.calendar.reminders.scanner import claimable
from aiwfe.core.crypto import InvalidToken, decrypt
from aiwfe.core.logging import get_logger
from aiwfe.core.settings import Settings
from aiwfe.notify import email

log = get_logger(__name__)
MAX_RETRY_DELAY = timedelta(minutes=10)


@dataclass(frozen=True)
class Reminded:
    """What a reminder says: the delivery and the occurrence it is about."""

    delivery: Delivery
    email: str
    summary: str
    location: str
    start_local: datetime
    owner_active: bool = True
    owner_verified: bool = True

    def payload(self) -> dict[str, Any]:
        row = self.delivery
        return {
            "type": "event.reminder",
            "delivery_id": str(row.id),
            "event_id": str(row.event_id),
            "occurrence": row.occurrence_key,
            "summary": self.summary,
            "location": self.location,
            "start": self.start_local.isoformat(),
            "minutes_before": row.minutes_before,
            "due_at": row.due_at.isoformat(),
            "late": row.late,
        }

    @property
    def title(self) -> str:
        return f"Reminder: {self.summary or '(no title)'}"

    @property
    def text(self) -> str:
        when = self.start_local.strftime("%Y-%m-%d %H:%M %Z").strip()
        late = " (sent late)" if self.delivery.late else ""
        where = f" at {self.location}" if self.location else ""
        return f"{self.summary or '(no title)'} starts {when}{where}.{late}"


class Undeliverable(Exception):
    """The reminder must not go out at all (its owner is deactivated, or mail to an unverified address)."""


class SendFailed(Exception):
    """One attempt failed; the row is retried later (or given up after the last attempt)."""


async def claim(db: AsyncSession, delivery_id: uuid.UUID, now: datetime, lease: timedelta) -> Delivery | None:
    """Take the row for one send attempt, or ``None`` if it is sent, given up, or leased to someone else."""
    row = await db.scalar(
        update(Delivery)
        .where(Delivery.id == delivery_id, claimable(now))
        .values(status=DeliveryStatus.SENDING, attempts=Delivery.attempts + 1, lease_until=now + lease)
        .returning(Delivery)
    )
    await db.commit()
    return row


async def _context(db: AsyncSession, row: Delivery) -> Reminded:
    found = (
        await db.execute(
            select(Event, Calendar, User)
            .join(Calendar, Calendar.id == Event.calendar_id)
            .join(User, User.id == Calendar.owner_id)
            .where(Event.id == row.event_id)
        )
    ).one()
    event, calendar, user = found
    zone = ZoneInfo(event.tzid or calendar.time_zone)
    return Reminded(
        row,
        user.email,
        event.summary,
        event.location,
        row.occurrence_start.astimezone(zone),
        owner_active=user.is_active,
        owner_verified=user.email_verified_at is not None,
    )


def _send_email(settings: Settings, reminded: Reminded) -> None:
    message: EmailMessage = email.build(settings, reminded.email, reminded.title, reminded.text)
    # The same id on a resend after a crash lets mail clients fold the copy.
    message.replace_header("Message-ID", f"<{reminded.delivery.id}@aiwfe.reminders>")
    email.send(settings, message)


async def _webhook_target(db: AsyncSession, settings: Settings, user_id: uuid.UUID) -> tuple[str, str]:
    hook = await db.get(Webhook, user_id)
    if hook is None or not hook.url:
        raise webhook.WebhookUrlError("no webhook URL is set")
    return hook.url, decrypt(settings, hook.secret_encrypted)


async def _mark_sent(db: AsyncSession, row: Delivery, now: datetime) -> bool:
    done = await db.scalar(
        update(Delivery)
        .where(Delivery.id == row.id, Delivery.status.in_((DeliveryStatus.PENDING, DeliveryStatus.SENDING)))
        .values(status=DeliveryStatus.SENT, sent_at=now, lease_until=None, error=None)
        .returning(Delivery.id)
    )
    return done is not None


async def _record_failure(
    db: AsyncSession, settings: Settings, row: Delivery, error: str, now: datetime, *, permanent: bool
) -> str:
    metrics.ATTEMPT_ERRORS.labels(row.channel.value).inc()
    if permanent or row.attempts >= settings.reminders_max_attempts:
        values: dict[str, Any] = {"status": DeliveryStatus.FAILED, "lease_until": None}
        metrics.FAILED.labels(row.channel.value).inc()
        outcome = "failed"
    else:
        base = timedelta(seconds=settings.reminders_scan_seconds)
        delay = min(base * 2 ** (row.attempts - 1), MAX_RETRY_DELAY)
        values = {"status": DeliveryStatus.PENDING, "lease_until": now + delay, "enqueued_at": None}
        outcome = "retry"
    await db.execute(
        update(Delivery)
        .where(Delivery.id == row.id, Delivery.status == DeliveryStatus.SENDING)
        .values(error=error[:2000], **values)
    )
    await db.commit()
    log.warning(
        "reminder_send_failed",
        delivery_id=str(row.id),
        channel=row.channel.value,
        outcome=outcome,
        error=error,
    )
    return outcome


async def _send(
    db: AsyncSession, settings: Settings, row: Delivery, transport: httpx.AsyncBaseTransport | None
) -> None:
    """Send through the row's channel; an in-app notification is only added to ``db``, committed with the
    mark that the row was sent."""
    reminded = await _context(db, row)
    if not reminded.owner_active:
        raise Undeliverable("the account is deactivated")
    if row.channel is Channel.EMAIL and not reminded.owner_verified:
        # Until the owner proves the address, it may be someone else's: send it nothing.
        raise Undeliverable("the account's email address is not verified")
    if row.channel is Channel.IN_APP:
        await db.execute(
            insert(Notification)
            .values(
                id=uuid.uuid4(),
                user_id=row.user_id,
                kind="event.reminder",
                title=reminded.title,
                body=reminded.text,
                data=reminded.payload(),
                delivery_id=row.id,
            )
            .on_conflict_do_nothing(index_elements=["delivery_id"])
        )
        return
    if row.channel is Channel.EMAIL:
        await db.commit()  # no transaction held open across the SMTP exchange
        _send_email(settings, reminded)
        return
    url, secret = await _webhook_target(db, settings, row.user_id)
    await db.commit()  # no transaction held open across the HTTP exchange
    body = json.dumps(reminded.payload(), separators=(",", ":"), sort_keys=True).encode()
    await webhook.post(settings, url, secret, body, str(row.id), transport=transport)


async def deliver(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    delivery_id: uuid.UUID,
    clock: Callable[[], datetime],
    transport: httpx.AsyncBaseTransport | None = None,
) -> str:
    """Claim and send one delivery; returns ``sent``, ``not-claimed``, ``retry`` or ``failed``."""
    lease = timedelta(seconds=settings.reminders_lease_seconds)
    async with sessions() as db:
        row = await claim(db, delivery_id, clock(), lease)
        if row is None:
            return "not-claimed"
        db.expunge(row)  # a detached snapshot: a rollback below must not expire what we read
        try:
            await _send(db, settings, row, transport)
        except Exception as exc:
            await db.rollback()
            permanent = isinstance(exc, webhook.WebhookUrlError | InvalidToken | Undeliverable)
            error = f"{type(exc).__name__}: {exc}"
            return await _record_failure(db, settings, row, error, clock(), permanent=permanent)
        sent_at = clock()
        marked = await _mark_sent(db, row, sent_at)
        await db.commit()
    if marked:
        metrics.SENT.labels(row.channel.value, str(row.late).lower()).inc()
        metrics.SEND_DELAY.labels(row.channel.value).observe(max(0.0, (sent_at - row.due_at).total_seconds()))
        log.info("reminder_sent", delivery_id=str(row.id), channel=row.channel.value, late=row.late)
    return "sent"
