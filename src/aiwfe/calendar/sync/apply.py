"""Writing a remote's state into a calendar: whole series by UID, rows updated in place (event ids stay
stable across syncs), nothing written when nothing changed. Flushes only: the sync run commits once.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from aiwfe.calendar.draft import EventDraft
from aiwfe.calendar.models import Event
from aiwfe.calendar.store import draft_of, fill, new_row


def _order(draft: EventDraft) -> tuple[bool, str]:
    return (draft.recurrence_id is not None, draft.recurrence_id or "")


def group(drafts: Iterable[EventDraft]) -> dict[str, list[EventDraft]]:
    by_uid: dict[str, list[EventDraft]] = defaultdict(list)
    for draft in drafts:
        by_uid[draft.uid].append(draft)
    return dict(by_uid)


async def series_rows(
    db: AsyncSession, calendar_id: uuid.UUID, uids: Iterable[str] | None = None
) -> dict[str, list[Event]]:
    """The calendar's events grouped by UID (all of them, or only ``uids``)."""
    query = select(Event).where(Event.calendar_id == calendar_id)
    if uids is not None:
        query = query.where(Event.uid.in_(list(uids)))
    by_uid: dict[str, list[Event]] = defaultdict(list)
    for row in await db.scalars(query):
        by_uid[row.uid].append(row)
    return dict(by_uid)


def series_hash(rows: Iterable[Event]) -> str:
    """A digest of a series' rows as they are now: any local write changes it (every write re-tags)."""
    tags = sorted(f"{row.recurrence_id or ''}={row.etag}" for row in rows)
    return hashlib.sha256("\n".join(tags).encode()).hexdigest()


def same(rows: Iterable[Event], drafts: Iterable[EventDraft]) -> bool:
    return sorted((draft_of(row) for row in rows), key=_order) == sorted(drafts, key=_order)


async def put_series(
    db: AsyncSession, calendar_id: uuid.UUID, drafts: list[EventDraft], rows: list[Event], *, budget: int
) -> tuple[list[Event], bool]:
    """Make the series' rows match ``drafts`` (one UID); returns the rows and whether anything changed."""
    if same(rows, drafts):
        return rows, False
    by_key = {row.recurrence_id: row for row in rows}
    kept: list[Event] = []
    for draft in sorted(drafts, key=_order):
        row = by_key.pop(draft.recurrence_id, None)
        if row is None:
            row = new_row(calendar_id, draft, budget=budget)
            db.add(row)
        elif draft_of(row) != draft:
            fill(row, draft, budget=budget)
        kept.append(row)
    for row in by_key.values():
        await db.delete(row)
    await db.flush()
    return kept, True


async def drop_series(db: AsyncSession, calendar_id: uuid.UUID, uid: str) -> bool:
    result = await db.execute(delete(Event).where(Event.calendar_id == calendar_id, Event.uid == uid))
    return bool(getattr(result, "rowcount", 0))


async def mirror(db: AsyncSession, calendar_id: uuid.UUID, drafts: list[EventDraft], *, budget: int) -> bool:
    """Make the whole calendar hold exactly ``drafts`` (an ICS file, a full listing); True if it changed."""
    wanted = group(drafts)
    existing = await series_rows(db, calendar_id)
    changed = False
    for uid in existing.keys() - wanted.keys():
        changed = await drop_series(db, calendar_id, uid) or changed
    for uid, members in wanted.items():
        _, differs = await put_series(db, calendar_id, members, existing.get(uid, []), budget=budget)
        changed = changed or differs
    return changed
