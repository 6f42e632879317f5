"""Calendars and events as plain rows for range reads, loaded on the hot path (core/sql.py).

A week view reads a dozen rows and writes nothing: ORM objects (identity map, attribute instrumentation, a
transaction to roll back) cost more than everything else the read does. Range reads, free/busy, CalDAV
reports and the reminder scan expand these rows instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ARRAY, Uuid, and_, bindparam, func, or_, select, tuple_

from aiwfe.calendar.errors import CalendarNotFound
from aiwfe.calendar.models import Calendar, Event, EventStatus, Transparency
from aiwfe.core import sql


@dataclass(frozen=True, slots=True)
class CalendarRow:
    id: uuid.UUID
    owner_id: uuid.UUID
    time_zone: str

    @classmethod
    def of(cls, calendar: Calendar | CalendarRow) -> CalendarRow:
        if isinstance(calendar, CalendarRow):
            return calendar
        return cls(calendar.id, calendar.owner_id, calendar.time_zone)


@dataclass(frozen=True, slots=True)
class EventRow:
    """An event's columns that occurrences are made of (not its span or timestamps)."""

    id: uuid.UUID
    calendar_id: uuid.UUID
    uid: str
    recurrence_id: str | None
    summary: str
    description: str
    location: str
    all_day: bool
    dtstart: datetime
    dtend: datetime
    tzid: str | None
    rrule: str | None
    rdates: list[str]
    exdates: list[str]
    status: EventStatus
    transparency: Transparency
    sequence: int
    etag: str

    @property
    def is_recurring(self) -> bool:
        return bool(self.rrule or self.rdates)


_CALENDAR_COLUMNS = (Calendar.id, Calendar.owner_id, Calendar.time_zone)
EVENT_COLUMNS = tuple(getattr(Event, name) for name in EventRow.__dataclass_fields__)
_IDS = ARRAY(Uuid())

_OWNED = sql.Query(
    select(*_CALENDAR_COLUMNS)
    .where(Calendar.owner_id == bindparam("owner"))
    .order_by(Calendar.created_at, Calendar.id),
    "calendar.rows.owned",
)
_ONE_OWNED = sql.Query(
    select(*_CALENDAR_COLUMNS).where(
        Calendar.id == bindparam("calendar"), Calendar.owner_id == bindparam("owner")
    ),
    "calendar.rows.one_owned",
)


def _events_in(series_of: bool) -> sql.Query:
    """Every row (masters and overrides) of the series with a row whose span meets [start, end)."""
    meets = and_(
        Event.calendar_id == func.any(bindparam("calendars", type_=_IDS)),
        Event.span_start < bindparam("end"),
        or_(Event.span_end.is_(None), Event.span_end > bindparam("start")),
    )
    if series_of:  # only the series these events belong to (the reminder scan)
        chosen = select(Event.calendar_id, Event.uid).where(
            Event.id == func.any(bindparam("events", type_=_IDS))
        )
        meets = and_(meets, tuple_(Event.calendar_id, Event.uid).in_(chosen))
    candidates = select(Event.calendar_id, Event.uid).where(meets).distinct()
    statement = select(*EVENT_COLUMNS).where(tuple_(Event.calendar_id, Event.uid).in_(candidates))
    return sql.Query(statement, "calendar.rows.events_in")


_EVENTS_IN = _events_in(series_of=False)
_EVENTS_OF_SERIES_IN = _events_in(series_of=True)


async def owned_calendars(
    conn: sql.Connection, user_id: uuid.UUID, calendar_id: uuid.UUID | None
) -> list[CalendarRow]:
    """The user's calendars, or just ``calendar_id`` (CalendarNotFound unless it is theirs)."""
    if calendar_id is None:
        return [CalendarRow(*row) for row in await _OWNED.rows(conn, owner=user_id)]
    found = await _ONE_OWNED.row(conn, calendar=calendar_id, owner=user_id)
    if found is None:
        raise CalendarNotFound(f"no calendar {calendar_id}")
    return [CalendarRow(*found)]


async def events_in(
    conn: sql.Connection,
    calendars: Sequence[CalendarRow],
    start: datetime,
    end: datetime,
    series_of: Collection[uuid.UUID] | None = None,
) -> list[EventRow]:
    """The rows of every series of ``calendars`` with an occurrence that may meet [start, end)."""
    params: dict[str, object] = {"calendars": [c.id for c in calendars], "start": start, "end": end}
    query = _EVENTS_IN
    if series_of is not None:
        params["events"], query = list(series_of), _EVENTS_OF_SERIES_IN
    return [EventRow(*row) for row in await query.rows(conn, **params)]
