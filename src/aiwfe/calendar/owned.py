"""The calling user's calendars: every lookup is scoped to them, so another user's calendar is simply not
found."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aiwfe.calendar.errors import CalendarNotFound
from aiwfe.calendar.models import Calendar


async def calendars(db: AsyncSession, user_id: uuid.UUID) -> Sequence[Calendar]:
    rows = await db.scalars(
        select(Calendar).where(Calendar.owner_id == user_id).order_by(Calendar.created_at, Calendar.id)
    )
    return rows.all()


async def calendar(db: AsyncSession, user_id: uuid.UUID, calendar_id: uuid.UUID) -> Calendar:
    found = await db.scalar(select(Calendar).where(Calendar.id == calendar_id, Calendar.owner_id == user_id))
    if found is None:
        raise CalendarNotFound(f"no calendar {calendar_id}")
    return found
