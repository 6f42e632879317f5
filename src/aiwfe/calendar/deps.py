"""FastAPI dependencies of the calendar domain: the service with this process's collaborators."""

from __future__ import annotations

import asyncio
import uuid

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from aiwfe.calendar.service import CalendarDeps, CalendarService
from aiwfe.calendar.tasks import IMPORT_ICS
from aiwfe.core.db import get_session


def calendar_deps(request: Request) -> CalendarDeps:
    state = request.app.state

    async def enqueue_import(import_id: uuid.UUID) -> None:
        # Publishing is a blocking broker round trip; keep it off the event loop.
        await asyncio.to_thread(state.celery.send_task, IMPORT_ICS, args=[str(import_id)])

    return CalendarDeps(settings=state.settings, redis=state.redis, enqueue_import=enqueue_import)


def calendar_service(
    deps: CalendarDeps = Depends(calendar_deps), db: AsyncSession = Depends(get_session)
) -> CalendarService:
    return CalendarService(db, deps)
