"""Caps on how many events a calendar and a user may hold, checked inside the write that adds them."""

from __future__ import annotations

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aiwfe.calendar.errors import TooManyEvents
from aiwfe.calendar.models import Calendar, Event
from aiwfe.core.settings import Settings

# The counts the caps are checked on: the events of one calendar, and of all its owner's calendars. A
# hot-path write returns them with its version bump (writes.py); check_room reads them on their own.
IN_CALENDAR = select(func.count()).where(Event.calendar_id == bindparam("calendar")).scalar_subquery()
PER_OWNER = (
    select(func.count())
    .select_from(Event)
    .join(Calendar, Calendar.id == Event.calendar_id)
    .where(Calendar.owner_id == bindparam("owner"))
    .scalar_subquery()
)
COUNTS = select(IN_CALENDAR, PER_OWNER)


async def check_room(db: AsyncSession, calendar: Calendar, settings: Settings) -> None:
    """Raise :class:`TooManyEvents` if, with this transaction's rows flushed, ``calendar`` or its owner
    holds more events than the settings allow; the caller then rolls back, so nothing is written.

    Call it after ``bump_version``: that update locks the calendar's row until commit, so concurrent
    writers to one calendar count one after the other and cannot both slip under its cap.
    """
    counts = (await db.execute(COUNTS, {"calendar": calendar.id, "owner": calendar.owner_id})).one()
    judge(counts[0], counts[1], settings)


def judge(in_calendar: int | None, per_user: int | None, settings: Settings) -> None:
    """Raise :class:`TooManyEvents` if either count, taken after this transaction's rows, is over its cap."""
    cap = settings.calendar_max_events_per_calendar
    if (in_calendar or 0) > cap:
        raise TooManyEvents(
            f"a calendar may hold at most {cap} events; this would make {in_calendar}", field="calendar_id"
        )
    cap = settings.calendar_max_events_per_user
    if (per_user or 0) > cap:
        raise TooManyEvents(
            f"your calendars may hold at most {cap} events together; this would make {per_user}",
            field="calendar_id",
        )
