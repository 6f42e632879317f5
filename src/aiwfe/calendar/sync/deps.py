"""FastAPI dependency of calendar sync: enqueue a sync run on this process's Celery app."""

from __future__ import annotations

import uuid

from fastapi import Request

from aiwfe.calendar.sync.service import EnqueueSync
from aiwfe.calendar.sync.tasks import SYNC_CALENDAR
from aiwfe.worker.publish import publish


async def sync_enqueuer(request: Request) -> EnqueueSync:
    celery = request.app.state.celery

    async def enqueue(calendar_id: uuid.UUID) -> None:
        await publish(celery, SYNC_CALENDAR, args=[str(calendar_id)])

    return enqueue
