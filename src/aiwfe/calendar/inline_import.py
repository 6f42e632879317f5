"""A small .ics imported within its request, on the hot path (core/sql.py): one transaction replaces each
imported UID's series (master and overrides) by the file's version, within the caps on events, and records
the finished import. Large files go to the worker (``imports.run_job``), which applies them the same way.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from sqlalchemy import ARRAY, String, bindparam, delete, func, insert
from sqlalchemy.ext.asyncio import AsyncSession

from aiwfe.calendar import ics, imports, quota, writes
from aiwfe.calendar.errors import ImportFailed
from aiwfe.calendar.models import CalendarImport, Event, ImportStatus
from aiwfe.calendar.stamps import hot_write
from aiwfe.calendar.store import columns_of
from aiwfe.calendar.sync.service import check_writable
from aiwfe.core import sql
from aiwfe.core.settings import Settings

_DROP_SERIES = sql.Query(
    delete(Event)
    .where(
        Event.calendar_id == bindparam("calendar"),
        Event.uid == func.any(bindparam("uids", type_=ARRAY(String()))),
    )
    .returning(Event.uid),
    "calendar.imports.drop_series",
)
_RECORDED = (
    "id", "calendar_id", "status", "size_bytes", "total", "processed", "created", "updated", "details",
    "finished_at",
)  # fmt: skip
_RECORD = sql.Query(
    insert(CalendarImport)
    .values({name: bindparam(name) for name in _RECORDED})
    .returning(CalendarImport.created_at),
    "calendar.imports.record",
)


def _rows(
    data: bytes, time_zone: str, calendar_id: uuid.UUID, settings: Settings
) -> tuple[ics.ParsedCalendar, list[dict[str, object]]]:
    """Parse the file and make its rows (each span may expand a rule): CPU work, run in a thread."""
    parsed = imports.parse(data, time_zone, settings)
    budget = settings.calendar_recurrence_budget
    rows = [
        {"id": uuid.uuid4(), "calendar_id": calendar_id, **columns_of(d, budget=budget)}
        for d in parsed.events
    ]
    return parsed, rows


async def import_inline(
    db: AsyncSession, user_id: uuid.UUID, calendar_id: uuid.UUID, data: bytes, settings: Settings
) -> CalendarImport:
    """Import ``data`` into the caller's calendar now: all of it or none of it (a bad file: ImportFailed)."""
    async with hot_write(db, user_id) as conn:
        target = await writes.lock_target(conn, user_id, calendar_id)
        check_writable(target)
        try:
            parsed, rows = await asyncio.to_thread(_rows, data, target.time_zone, target.id, settings)
        except ics.IcsError as exc:
            raise ImportFailed(str(exc)) from None
        uids = sorted({str(row["uid"]) for row in rows})
        existing = {uid for (uid,) in await _DROP_SERIES.rows(conn, calendar=target.id, uids=uids)}
        await writes.INSERT_EVENT.execute_many(conn, rows)
        counts = await writes.BUMP_AND_COUNT.row(conn, calendar=target.id, owner=target.owner_id) or (0, 0)
        quota.judge(counts[0], counts[1], settings)
        job = CalendarImport(
            id=uuid.uuid4(),
            calendar_id=target.id,
            status=ImportStatus.SUCCEEDED,
            size_bytes=len(data),
            total=len(rows),
            processed=len(rows),
            created=len(set(uids) - existing),
            updated=len(existing),
            error=None,
            details={"skipped_components": parsed.skipped},
            finished_at=datetime.now(UTC),
        )
        job.created_at = await _RECORD.scalar(conn, **{name: getattr(job, name) for name in _RECORDED})
    return job
