"""FastAPI dependency of reminders: the service, over the request's calendar service."""

from __future__ import annotations

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from aiwfe.calendar.deps import calendar_service
from aiwfe.calendar.reminders.service import ReminderService
from aiwfe.calendar.service import CalendarService
from aiwfe.core.db import get_session


async def reminder_service(
    calendars: CalendarService = Depends(calendar_service), db: AsyncSession = Depends(get_session)
) -> ReminderService:
    return ReminderService(db, calendars.settings, calendars)
