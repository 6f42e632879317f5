"""FastAPI dependency of reminders: the service, over the request's event service."""

from __future__ import annotations

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from aiwfe.calendar.deps import event_service
from aiwfe.calendar.events import EventService
from aiwfe.calendar.reminders.service import ReminderService
from aiwfe.core.db import get_session


async def reminder_service(
    events: EventService = Depends(event_service), db: AsyncSession = Depends(get_session)
) -> ReminderService:
    return ReminderService(db, events.settings, events)
