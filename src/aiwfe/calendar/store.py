"""Event rows and drafts: fill a row from a checked draft (with its span and a new ETag), read it back."""

from __future__ import annotations

import uuid

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from aiwfe.calendar import stamps
from aiwfe.calendar.draft import EventDraft
from aiwfe.calendar.models import Calendar, Event
from aiwfe.calendar.recurrence import Budget, stored_span
from aiwfe.calendar.rows import EventRow
from aiwfe.core.crypto import new_token


def draft_of(row: Event | EventRow) -> EventDraft:
    return EventDraft(
        dtstart=row.dtstart,
        dtend=row.dtend,
        tzid=row.tzid,
        uid=row.uid,
        recurrence_id=row.recurrence_id,
        summary=row.summary,
        description=row.description,
        location=row.location,
        rrule=row.rrule,
        rdates=tuple(row.rdates),
        exdates=tuple(row.exdates),
        status=row.status,
        transparency=row.transparency,
        sequence=row.sequence,
    )


def columns_of(draft: EventDraft, *, budget: int | Budget) -> dict[str, object]:
    """The event columns ``draft`` makes, with a fresh ETag (every write gets one). Finding the span of
    its rule may spend ``budget`` rule iterations (free when the draft was just checked with the same
    budget); a draft must have been checked (``draft.checked``), which refuses rules beyond the budget."""
    span_start, span_end = stored_span(draft.series, budget=budget)
    return {
        "uid": draft.uid,
        "recurrence_id": draft.recurrence_id,
        "summary": draft.summary,
        "description": draft.description,
        "location": draft.location,
        "all_day": draft.all_day,
        "dtstart": draft.dtstart,
        "dtend": draft.dtend,
        "tzid": draft.tzid,
        "rrule": draft.rrule,
        "rdates": list(draft.rdates),
        "exdates": list(draft.exdates),
        "status": draft.status,
        "transparency": draft.transparency,
        "sequence": draft.sequence,
        "span_start": span_start,
        "span_end": span_end,
        "etag": new_token(12),
    }


def fill(row: Event, draft: EventDraft, *, budget: int | Budget) -> Event:
    """Copy ``draft`` into ``row`` (see ``columns_of``)."""
    for name, value in columns_of(draft, budget=budget).items():
        setattr(row, name, value)
    return row


def new_row(calendar_id: uuid.UUID, draft: EventDraft, *, budget: int | Budget) -> Event:
    return fill(Event(id=uuid.uuid4(), calendar_id=calendar_id), draft, budget=budget)


async def bump_version(db: AsyncSession, calendar: Calendar) -> None:
    """One more change to the calendar: atomic in SQL, so concurrent writers never share a version."""
    new_version = await db.scalar(
        update(Calendar)
        .where(Calendar.id == calendar.id)
        .values(version=Calendar.version + 1)
        .returning(Calendar.version)
        # Its owner is known: the stamp hook need not query for it.
        .execution_options(**{stamps.OWNERS_OPTION: (calendar.owner_id,)})
    )
    if new_version is not None:
        calendar.version = new_version
