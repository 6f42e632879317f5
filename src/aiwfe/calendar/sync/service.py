"""What the API asks of calendar sync: create a synced calendar with its source (credentials encrypted),
ask for a sync now, and say whether a calendar's events may be written here.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aiwfe.calendar.errors import InvalidEvent
from aiwfe.calendar.models import Calendar, CalendarSource, SyncStatus
from aiwfe.calendar.schemas import CalendarIn
from aiwfe.calendar.sync.errors import CalendarReadOnly, NotSynced
from aiwfe.calendar.sync.models import SyncSource
from aiwfe.calendar.sync.remote import check_source_url
from aiwfe.core import outbound
from aiwfe.core.crypto import encrypt
from aiwfe.core.settings import Settings
from aiwfe.oauth.models import OAuthAccount

EnqueueSync = Callable[[uuid.UUID], Awaitable[None]]
# ICS files are published one way; Google is read here only. CalDAV is synced both ways.
READ_ONLY_SOURCES = frozenset({CalendarSource.ICS, CalendarSource.GOOGLE})
GOOGLE_PROVIDERS = frozenset({"google"})


class Sourced(Protocol):
    """A calendar as a row or an ORM object: where its events come from."""

    @property
    def source(self) -> CalendarSource: ...


def is_read_only(calendar: Sourced) -> bool:
    return calendar.source in READ_ONLY_SOURCES


def check_writable(calendar: Sourced) -> None:
    """Refuse local writes to events that come one-way from a source (they would be overwritten)."""
    if is_read_only(calendar):
        raise CalendarReadOnly(
            f"the events of this calendar come from its {calendar.source.value} source and are read-only here"
        )


async def _connected_account(db: AsyncSession, user_id: uuid.UUID, account_id: uuid.UUID) -> OAuthAccount:
    account = await db.scalar(
        select(OAuthAccount).where(OAuthAccount.id == account_id, OAuthAccount.user_id == user_id)
    )
    if account is None or account.provider not in GOOGLE_PROVIDERS or not account.connected:
        # Another user's account id reads the same as one that does not exist.
        raise InvalidEvent("connected_account_id", "is not a Google account connected to your user")
    return account


async def create_synced(
    db: AsyncSession, settings: Settings, user_id: uuid.UUID, body: CalendarIn, enqueue: EnqueueSync
) -> Calendar:
    """A calendar with its sync source, status ``pending``, and its first sync enqueued. The source URL is
    checked now (scheme, no credentials, a permitted address), so a bad one is a 422 and not a failed sync."""
    if body.source_url is not None:
        try:
            await check_source_url(body.source_url, settings)
        except outbound.Refused as exc:
            raise InvalidEvent("source_url", str(exc)) from None
    if body.source is CalendarSource.GOOGLE and body.connected_account_id is not None:
        await _connected_account(db, user_id, body.connected_account_id)
    calendar = Calendar(
        owner_id=user_id,
        name=body.name,
        color=body.color,
        time_zone=body.time_zone,
        source=body.source,
        source_url=body.source_url,
        sync_status=SyncStatus.PENDING,
    )
    db.add(calendar)
    await db.flush()
    db.add(
        SyncSource(
            calendar_id=calendar.id,
            username=body.username,
            password_encrypted=encrypt(settings, body.password.get_secret_value()) if body.password else None,
            connected_account_id=body.connected_account_id,
            remote_calendar_id=(body.remote_calendar_id or "primary")
            if body.source is CalendarSource.GOOGLE
            else None,
        )
    )
    await db.commit()
    await db.refresh(calendar)
    await enqueue(calendar.id)
    return calendar


async def request_sync(db: AsyncSession, calendar: Calendar, enqueue: EnqueueSync) -> Calendar:
    """Mark the calendar ``pending`` and enqueue a run. While a run holds the calendar it stays
    ``syncing`` (the queued run then finds it busy and leaves it to the one under way)."""
    if calendar.source is CalendarSource.LOCAL:
        raise NotSynced("a local calendar has no source to sync from")
    free = await db.scalar(
        select(Calendar.id).where(Calendar.id == calendar.id).with_for_update(skip_locked=True)
    )
    if free is not None:
        calendar.sync_status = SyncStatus.PENDING
    await db.commit()
    await db.refresh(calendar)
    await enqueue(calendar.id)
    return calendar
