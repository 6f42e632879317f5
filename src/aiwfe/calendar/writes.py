"""The event writes the load journey repeats, on the hot path (core/sql.py): a new event, and an edit of a
whole series (or a single event). One transaction each, with the calendar's row locked first; the owner's
stamp is bumped after the commit (``stamps.hot_write``). Everything rarer (an occurrence, a split, a delete)
stays with the ORM in ``events.py``; both write the same columns (``store.columns_of``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from sqlalchemy import bindparam, delete, func, insert, select, update

from aiwfe.calendar import quota
from aiwfe.calendar.draft import EventDraft
from aiwfe.calendar.errors import CalendarNotFound, EventNotFound, UidTaken
from aiwfe.calendar.models import Calendar, CalendarSource, Event
from aiwfe.calendar.recurrence import Budget
from aiwfe.calendar.rows import EVENT_COLUMNS, EventRow
from aiwfe.calendar.store import columns_of
from aiwfe.core import sql
from aiwfe.core.settings import Settings


@dataclass(frozen=True, slots=True)
class Target:
    """The calendar a write goes to, as the write found it (its row locked until the commit)."""

    id: uuid.UUID
    owner_id: uuid.UUID
    time_zone: str
    source: CalendarSource


@dataclass(frozen=True, slots=True)
class Written:
    """An event as a write left it: its columns and the server-set times."""

    row: EventRow
    created_at: datetime
    updated_at: datetime


_TARGET = (Calendar.id, Calendar.owner_id, Calendar.time_zone, Calendar.source)
# Locked first, so writers to one calendar take turns (and count its events one after the other, see
# quota.py); its version goes up after the event's row is written, as CalDAV's change log expects (its
# triggers label the transaction's changes with the new version, migration 0009).
_LOCK = sql.Query(
    select(*_TARGET)
    .where(Calendar.id == bindparam("calendar"), Calendar.owner_id == bindparam("owner"))
    .with_for_update(),
    "calendar.writes.lock",
)
_BUMP_STATEMENT = (
    update(Calendar).where(Calendar.id == bindparam("calendar")).values(version=Calendar.version + 1)
)
_BUMP = sql.Query(_BUMP_STATEMENT, "calendar.writes.bump")
# The bump of a write that adds a row returns the counts the caps are checked on (quota.py), in the same
# round trip; they include this transaction's row.
BUMP_AND_COUNT = sql.Query(
    _BUMP_STATEMENT.returning(quota.IN_CALENDAR, quota.PER_OWNER), "calendar.writes.bump_and_count"
)
# An event of the caller's, with its calendar locked (as ``_LOCK`` does) in the same round trip.
_OWNED_EVENT = sql.Query(
    select(*EVENT_COLUMNS, *_TARGET)
    .join(Calendar, Calendar.id == Event.calendar_id)
    .where(Event.id == bindparam("event"), Calendar.owner_id == bindparam("owner"))
    .with_for_update(of=Calendar),
    "calendar.writes.owned_event",
)
_WRITTEN = (Event.created_at, Event.updated_at)
_COLUMNS = [name for name in EventRow.__dataclass_fields__ if name not in ("id", "calendar_id")]
INSERT_EVENT = sql.Query(
    insert(Event)
    .values({name: bindparam(name) for name in ("id", "calendar_id", *_COLUMNS, "span_start", "span_end")})
    .returning(*_WRITTEN),
    "calendar.writes.insert",
)
_UPDATE = sql.Query(
    update(Event)
    .where(Event.id == bindparam("event"))
    .values(
        {
            **{name: bindparam(name) for name in (*_COLUMNS, "span_start", "span_end")},
            "updated_at": func.now(),
        }
    )
    .returning(*_WRITTEN),
    "calendar.writes.update",
)
_DROP_OVERRIDES = sql.Query(
    delete(Event).where(
        Event.calendar_id == bindparam("calendar"),
        Event.uid == bindparam("uid"),
        Event.recurrence_id.is_not(None),
    ),
    "calendar.writes.drop_overrides",
)


async def lock_target(conn: sql.Connection, owner: uuid.UUID, calendar_id: uuid.UUID) -> Target:
    found = await _LOCK.row(conn, calendar=calendar_id, owner=owner)
    if found is None:
        raise CalendarNotFound(f"no calendar {calendar_id}")
    return Target(*found)


async def insert_event(
    conn: sql.Connection, target: Target, draft: EventDraft, budget: int | Budget, settings: Settings
) -> Written:
    """Add the event ``draft`` to the locked ``target``, within the caps on events (quota.py)."""
    values = {"id": uuid.uuid4(), "calendar_id": target.id, **columns_of(draft, budget=budget)}
    try:
        created_at, updated_at = await INSERT_EVENT.row(conn, **values) or (None, None)
    except asyncpg.UniqueViolationError:
        raise UidTaken(f"an event with UID {draft.uid!r} is already in this calendar", field="uid") from None
    counts = await BUMP_AND_COUNT.row(conn, calendar=target.id, owner=target.owner_id) or (0, 0)
    quota.judge(counts[0], counts[1], settings)
    return Written(_row(values), created_at, updated_at)


async def owned_event(conn: sql.Connection, owner: uuid.UUID, event_id: uuid.UUID) -> tuple[EventRow, Target]:
    """The caller's event ``event_id`` and its calendar, locked as ``lock_target`` locks it."""
    found = await _OWNED_EVENT.row(conn, event=event_id, owner=owner)
    if found is None:
        raise EventNotFound(f"no event {event_id}")
    split = len(EVENT_COLUMNS)
    return EventRow(*found[:split]), Target(*found[split:])


async def replace_event(
    conn: sql.Connection, old: EventRow, draft: EventDraft, budget: int | Budget, *, drop_overrides: bool
) -> Written:
    """Store ``draft`` as event ``old`` (a master or a single event); ``drop_overrides`` removes the
    series' exceptions (its occurrences moved, so they no longer apply)."""
    if drop_overrides:
        await _DROP_OVERRIDES.execute(conn, calendar=old.calendar_id, uid=old.uid)
    values = {"id": old.id, "calendar_id": old.calendar_id, **columns_of(draft, budget=budget)}
    created_at, updated_at = await _UPDATE.row(conn, event=old.id, **values) or (None, None)
    await _BUMP.execute(conn, calendar=old.calendar_id)
    return Written(_row(values), created_at, updated_at)


def _row(values: dict[str, object]) -> EventRow:
    return EventRow(**{name: values[name] for name in EventRow.__dataclass_fields__})  # type: ignore[arg-type]
