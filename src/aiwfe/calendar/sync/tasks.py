"""Worker tasks of calendar sync: sync one calendar, and the beat scan that enqueues the due ones."""

from __future__ import annotations

import asyncio
import uuid

from celery import shared_task

from aiwfe.calendar.sync import engine
from aiwfe.core.db import create_engine, create_sessionmaker
from aiwfe.core.logging import get_logger
from aiwfe.core.settings import get_settings

log = get_logger(__name__)
SYNC_CALENDAR = "aiwfe.calendar.sync_calendar"
SYNC_DUE = "aiwfe.calendar.sync_due"


@shared_task(name=SYNC_CALENDAR)
def sync_calendar(calendar_id: str) -> str:
    """One sync run of ``calendar_id``; the outcome is in the calendar's sync status. Returns it in a word."""
    settings = get_settings()

    async def run() -> str:
        db_engine = create_engine(settings)
        try:
            return await engine.run(create_sessionmaker(db_engine), settings, uuid.UUID(calendar_id))
        finally:
            await db_engine.dispose()

    return asyncio.run(run())


@shared_task(name=SYNC_DUE)
def sync_due() -> int:
    """Enqueue a sync of every synced calendar whose interval has passed; returns how many."""
    settings = get_settings()

    async def run() -> list[uuid.UUID]:
        db_engine = create_engine(settings)
        try:
            return await engine.due(create_sessionmaker(db_engine), settings)
        finally:
            await db_engine.dispose()

    ids = asyncio.run(run())
    for calendar_id in ids:
        sync_calendar.delay(str(calendar_id))
    if ids:
        log.info("calendar_syncs_enqueued", count=len(ids))
    return len(ids)
