"""FastAPI dependency of calendar sync: enqueue a sync run on this process's Celery app."""

from __future__ import annotations

import asyncio
import uuid

from fastapi import Request

from aiwfe.calendar.sync.service import EnqueueSync
from aiwfe.calendar.sync.tasks import SYNC_CALENDAR


async def sync_enqueuer(request: Request) -> EnqueueSync:
    celery = request.app.state.celery

    async def enqueue(calendar_id: uuid.UUID) -> None:
        # Publishing is a blocking broker round trip; keep it off the event loop.
        await asyncio.to_thread(celery.send_task, SYNC_CALENDAR, args=[str(calendar_id)])

    return enqueue
