"""ICS imports: apply a parsed file to a calendar in one transaction (all of it or none of it), and the
job the worker runs for large uploads, with its progress committed as it goes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiwfe.calendar import ics, quota
from aiwfe.calendar.draft import EventDraft
from aiwfe.calendar.errors import TooManyEvents
from aiwfe.calendar.models import Calendar, CalendarImport, Event, ImportStatus
from aiwfe.calendar.store import bump_version, new_row
from aiwfe.core.logging import get_logger
from aiwfe.core.settings import Settings

log = get_logger(__name__)
PROGRESS_EVERY = 500

Progress = Callable[[int, int], Awaitable[None]]


@dataclass
class Applied:
    total: int
    created: int
    updated: int


async def apply(
    db: AsyncSession,
    calendar: Calendar,
    drafts: list[EventDraft],
    *,
    budget: int,
    progress: Progress | None = None,
) -> Applied:
    """Replace each imported UID's series (master and overrides) by the file's version of it.

    Flushes but does not commit: the caller commits once, so a failure leaves nothing behind. The
    caller checks the event caps after it (``quota.check_room``), before committing.
    """
    # Each row's span may expand its rule again (up to ``budget`` steps): CPU work, off the event loop.
    rows = await asyncio.to_thread(lambda: [new_row(calendar.id, draft, budget=budget) for draft in drafts])
    uids = sorted({draft.uid for draft in drafts})
    existing: set[str] = set()
    for start in range(0, len(uids), 1000):
        chunk = uids[start : start + 1000]
        found = await db.scalars(
            select(Event.uid).where(Event.calendar_id == calendar.id, Event.uid.in_(chunk)).distinct()
        )
        existing.update(found)
        await db.execute(delete(Event).where(Event.calendar_id == calendar.id, Event.uid.in_(chunk)))
    for done, row in enumerate(rows, start=1):
        db.add(row)
        if done % PROGRESS_EVERY == 0:
            await db.flush()
            if progress is not None:
                await progress(done, len(drafts))
    await db.flush()
    await bump_version(db, calendar)
    return Applied(total=len(drafts), created=len(set(uids) - existing), updated=len(existing))


def parse(data: bytes, time_zone: str, settings: Settings) -> ics.ParsedCalendar:
    """The events of an .ics for a calendar in ``time_zone`` (its floating times' zone), within the caps."""
    return ics.parse(
        data,
        default_tz=time_zone,
        max_events=settings.calendar_import_max_events,
        budget=settings.calendar_recurrence_budget,
        total_budget=settings.calendar_import_recurrence_budget,
    )


async def run_job(sessions: async_sessionmaker[AsyncSession], settings: Settings, job_id: uuid.UUID) -> str:
    """Run one import job to the end; safe to run again after a crash (it starts over)."""
    async with sessions() as db:
        job = await db.get(CalendarImport, job_id)
        if job is None or job.status in (ImportStatus.SUCCEEDED, ImportStatus.FAILED):
            return "gone" if job is None else job.status.value
        calendar = await db.get(Calendar, job.calendar_id)
        payload = job.payload or b""
        job.status = ImportStatus.RUNNING
        await db.commit()
    if calendar is None:
        return "gone"

    async def record(**values: object) -> None:
        # Progress goes through its own short transactions, visible while the import runs.
        async with sessions() as db:
            await db.execute(update(CalendarImport).where(CalendarImport.id == job_id).values(**values))
            await db.commit()

    try:
        parsed = await asyncio.to_thread(parse, payload, calendar.time_zone, settings)
    except ics.IcsError as exc:
        await record(status=ImportStatus.FAILED, error=str(exc), payload=None, finished_at=datetime.now(UTC))
        log.info("calendar_import_failed", import_id=str(job_id), reason=str(exc))
        return ImportStatus.FAILED.value
    await record(total=len(parsed.events), details={"skipped_components": parsed.skipped})

    async def progress(done: int, total: int) -> None:
        await record(processed=done)

    try:
        applied = await _apply_job(sessions, settings, job_id, job.calendar_id, parsed, progress)
    except TooManyEvents as exc:
        finished = datetime.now(UTC)
        await record(status=ImportStatus.FAILED, error=exc.detail, payload=None, finished_at=finished)
        log.info("calendar_import_failed", import_id=str(job_id), reason=exc.detail)
        return ImportStatus.FAILED.value
    except Exception:
        log.exception("calendar_import_crashed", import_id=str(job_id))
        await record(
            status=ImportStatus.FAILED,
            error="the import failed unexpectedly; nothing was imported",
            payload=None,
            finished_at=datetime.now(UTC),
        )
        raise
    if applied is None:
        return "gone"
    log.info("calendar_imported", import_id=str(job_id), events=applied.total)
    return ImportStatus.SUCCEEDED.value


async def _apply_job(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    job_id: uuid.UUID,
    calendar_id: uuid.UUID,
    parsed: ics.ParsedCalendar,
    progress: Progress,
) -> Applied | None:
    async with sessions() as db:
        calendar = await db.get(Calendar, calendar_id)
        if calendar is None:
            return None
        applied = await apply(
            db, calendar, parsed.events, budget=settings.calendar_recurrence_budget, progress=progress
        )
        await quota.check_room(db, calendar, settings)
        # The events first: their commit bumps the owner's stamp (stamps.py) before the job says it is done,
        # so a client that sees "succeeded" never reads a page cached before the import. A crash between
        # the two commits leaves the job running; it starts over (a UID's series is replaced, not added).
        await db.commit()
        await db.execute(
            update(CalendarImport)
            .where(CalendarImport.id == job_id)
            .values(
                status=ImportStatus.SUCCEEDED,
                processed=applied.total,
                created=applied.created,
                updated=applied.updated,
                payload=None,
                finished_at=datetime.now(UTC),
            )
        )
        await db.commit()
    return applied
