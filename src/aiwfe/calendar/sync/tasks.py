"""Worker tasks of calendar sync: sync one calendar, and the beat scan that enqueues the due ones."""

from __future__ import annotations

import uuid

from celery import shared_task

from aiwfe.calendar.sync import engine
from aiwfe.core.logging import get_logger
from aiwfe.worker.resources import TaskResources, run_async

log = get_logger(__name__)
SYNC_CALENDAR = "aiwfe.calendar.sync_calendar"
SYNC_DUE = "aiwfe.calendar.sync_due"


@shared_task(name=SYNC_CALENDAR)
def sync_calendar(calendar_id: str) -> str:
    """One sync run of ``calendar_id``; the outcome is in the calendar's sync status. Returns it in a word."""

    async def run(task: TaskResources) -> str:
        return await engine.run(task.sessions, task.settings, uuid.UUID(calendar_id))

    return run_async(run)


@shared_task(name=SYNC_DUE)
def sync_due() -> int:
    """Enqueue a sync of every synced calendar whose interval has passed; returns how many."""

    async def run(task: TaskResources) -> list[uuid.UUID]:
        return await engine.due(task.sessions, task.settings)

    ids = run_async(run)
    for calendar_id in ids:
        sync_calendar.delay(str(calendar_id))
    if ids:
        log.info("calendar_syncs_enqueued", count=len(ids))
    return len(ids)
