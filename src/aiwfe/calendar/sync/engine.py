"""One sync run of one calendar, whatever its source: all of it in one transaction (the calendar row locked,
so two runs never overlap), the calendar's ``version`` bumped when its events changed, and the outcome in
``sync_status`` / ``sync_error`` / ``last_synced_at``. A failed run changes no event.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiwfe.auth.models import User
from aiwfe.calendar import quota
from aiwfe.calendar.errors import TooManyEvents
from aiwfe.calendar.models import Calendar, CalendarSource, SyncStatus
from aiwfe.calendar.store import bump_version
from aiwfe.calendar.sync import caldav_sync, google, ics_url
from aiwfe.calendar.sync.context import SyncContext
from aiwfe.calendar.sync.models import SyncSource
from aiwfe.calendar.sync.remote import Remote, SyncFailed
from aiwfe.core.logging import get_logger
from aiwfe.core.settings import Settings

log = get_logger(__name__)
Engine = Callable[[SyncContext], Awaitable[bool]]
ENGINES: dict[CalendarSource, Engine] = {
    CalendarSource.ICS: ics_url.sync,
    CalendarSource.CALDAV: caldav_sync.sync,
    CalendarSource.GOOGLE: google.sync,
}
UNEXPECTED = "the sync failed unexpectedly; nothing was changed (the error is in the worker's log)"


async def _locked(db: AsyncSession, calendar_id: uuid.UUID) -> Calendar | None:
    return await db.scalar(
        select(Calendar)
        .where(Calendar.id == calendar_id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )


async def run(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    calendar_id: uuid.UUID,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> str:
    """Sync ``calendar_id`` once; returns ``changed``, ``unchanged``, ``error``, ``busy``, ``gone`` or
    ``inactive`` (its owner is deactivated)."""
    async with sessions() as db:
        calendar = await _locked(db, calendar_id)
        if calendar is None:
            return "busy" if await db.get(Calendar, calendar_id) is not None else "gone"
        source = await db.get(SyncSource, calendar_id)
        if calendar.source not in ENGINES or source is None:
            return "gone"
        owner = await db.get(User, calendar.owner_id)
        if owner is None or not owner.is_active:
            return "inactive"
        calendar.sync_status = SyncStatus.SYNCING
        kind, account_id = calendar.source, source.connected_account_id
        await db.commit()

    now = datetime.now(UTC)
    next_run = now + timedelta(minutes=settings.calendar_sync_interval_minutes)
    try:
        token = None
        if kind is CalendarSource.GOOGLE:
            token = await google.access_token(sessions, settings, account_id)
        async with sessions() as db, Remote(settings, transport) as remote:
            calendar = await _locked(db, calendar_id)
            source = await db.get(SyncSource, calendar_id)
            if calendar is None or source is None:
                return "busy"
            ctx = SyncContext(db, calendar, source, remote, settings, access_token=token)
            changed = await ENGINES[kind](ctx)
            if changed:
                await bump_version(db, calendar)
                try:
                    await quota.check_room(db, calendar, settings)
                except TooManyEvents as exc:
                    raise SyncFailed(exc.detail) from None  # rolled back: the calendar keeps its events
                # The events first: their commit bumps the owner's stamp (calendar/stamps.py) before the
                # calendar says the run is done, so whoever sees "ok" reads no page cached before it.
                await db.commit()
            calendar.sync_status = SyncStatus.OK
            calendar.sync_error = None
            calendar.last_synced_at = datetime.now(UTC)
            source.next_sync_at = next_run
            source.failures = 0
            await db.commit()
    except SyncFailed as exc:
        await _failed(sessions, calendar_id, str(exc), next_run)
        log.info("calendar_sync_failed", calendar=str(calendar_id), reason=str(exc))
        return "error"
    except Exception:
        log.exception("calendar_sync_crashed", calendar=str(calendar_id))
        await _failed(sessions, calendar_id, UNEXPECTED, next_run)
        return "error"
    log.info("calendar_synced", calendar=str(calendar_id), changed=changed)
    return "changed" if changed else "unchanged"


async def _failed(
    sessions: async_sessionmaker[AsyncSession], calendar_id: uuid.UUID, reason: str, next_run: datetime
) -> None:
    async with sessions() as db:
        calendar = await db.get(Calendar, calendar_id, with_for_update=True)
        source = await db.get(SyncSource, calendar_id)
        if calendar is None or source is None:
            return
        calendar.sync_status = SyncStatus.ERROR
        calendar.sync_error = reason[:2000]
        source.next_sync_at = next_run
        source.failures += 1
        await db.commit()


async def due(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, limit: int = 500
) -> list[uuid.UUID]:
    """Synced calendars whose next run is due (or that never ran), each pushed one interval forward so
    the next scan does not enqueue it again; the run itself sets the time after it finishes."""
    now = datetime.now(UTC)
    async with sessions() as db:
        # A deactivated owner's calendars are not synced (their sources wait, unchanged, for reactivation).
        sources = await db.scalars(
            select(SyncSource)
            .join(Calendar, Calendar.id == SyncSource.calendar_id)
            .join(User, User.id == Calendar.owner_id)
            .where(User.is_active.is_(True))
            .where((SyncSource.next_sync_at.is_(None)) | (SyncSource.next_sync_at <= now))
            .order_by(SyncSource.next_sync_at.nulls_first())
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        ids: list[uuid.UUID] = []
        for source in sources:
            source.next_sync_at = now + timedelta(minutes=settings.calendar_sync_interval_minutes)
            ids.append(source.calendar_id)
        await db.commit()
    return ids
