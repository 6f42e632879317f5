"""The calendar domain's calendars, with no HTTP: create, change and delete them, their secret feeds,
.ics export and import. Events are in ``events.py``, range queries and free/busy in ``occurrences.py``.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from aiwfe.auth.models import User
from aiwfe.calendar import ics, owned, rows
from aiwfe.calendar.errors import CalendarNotFound, FeedNotFound, ImportNotFound, UploadTooLarge
from aiwfe.calendar.inline_import import import_inline
from aiwfe.calendar.models import Calendar, CalendarImport, Event, ImportStatus
from aiwfe.calendar.schemas import CalendarIn, CalendarPatch
from aiwfe.calendar.store import bump_version, draft_of
from aiwfe.calendar.sync.service import check_writable
from aiwfe.core import sql
from aiwfe.core.crypto import new_token, token_hash
from aiwfe.core.settings import Settings

EnqueueImport = Callable[[uuid.UUID], Awaitable[None]]


class CalendarService:
    def __init__(self, db: AsyncSession, settings: Settings, enqueue_import: EnqueueImport) -> None:
        self.db = db
        self.settings = settings
        self.budget = settings.calendar_recurrence_budget
        self.enqueue_import = enqueue_import

    # ---- calendars -------------------------------------------------------------------------------

    async def list_calendars(self, user_id: uuid.UUID) -> Sequence[Calendar]:
        return await owned.calendars(self.db, user_id)

    async def calendar(self, user_id: uuid.UUID, calendar_id: uuid.UUID) -> Calendar:
        return await owned.calendar(self.db, user_id, calendar_id)

    async def check_owned(self, user_id: uuid.UUID, calendar_id: uuid.UUID) -> None:
        """CalendarNotFound unless the calendar is the user's: one statement on a borrowed connection."""
        async with sql.connect(sql.engine_of(self.db)) as conn:
            await rows.owned_calendars(conn, user_id, calendar_id)

    async def create_calendar(self, user_id: uuid.UUID, body: CalendarIn) -> Calendar:
        calendar = Calendar(
            owner_id=user_id, name=body.name, color=body.color, time_zone=body.time_zone, source=body.source
        )
        self.db.add(calendar)
        await self.db.commit()
        await self.db.refresh(calendar)
        return calendar

    async def update_calendar(
        self, user_id: uuid.UUID, calendar_id: uuid.UUID, body: CalendarPatch
    ) -> Calendar:
        calendar = await self.calendar(user_id, calendar_id)
        for name in ("name", "color", "time_zone"):
            value = getattr(body, name)
            if value is not None:
                setattr(calendar, name, value)
        await self.db.flush()
        # The zone decides where all-day events fall: pages cached under the old version must go.
        await bump_version(self.db, calendar)
        await self.db.commit()
        await self.db.refresh(calendar)
        return calendar

    async def delete_calendar(self, user_id: uuid.UUID, calendar_id: uuid.UUID) -> None:
        calendar = await self.calendar(user_id, calendar_id)
        await self.db.delete(calendar)
        await self.db.commit()

    # ---- feeds and export ------------------------------------------------------------------------

    async def enable_feed(self, user_id: uuid.UUID, calendar_id: uuid.UUID) -> str:
        """A new secret feed token (any previous one stops working); only its hash is kept."""
        calendar = await self.calendar(user_id, calendar_id)
        token = new_token(32)
        calendar.feed_token_hash = token_hash(token)
        await self.db.commit()
        return token

    async def revoke_feed(self, user_id: uuid.UUID, calendar_id: uuid.UUID) -> None:
        calendar = await self.calendar(user_id, calendar_id)
        calendar.feed_token_hash = None
        await self.db.commit()

    async def feed_calendar(self, token: str) -> Calendar:
        # A deactivated owner's feeds answer like revoked ones.
        found = await self.db.scalar(
            select(Calendar)
            .join(User, User.id == Calendar.owner_id)
            .where(Calendar.feed_token_hash == token_hash(token), User.is_active.is_(True))
        )
        if found is None:
            raise FeedNotFound("this feed does not exist or was revoked")
        return found

    async def export_ics(self, calendar: Calendar) -> bytes:
        rows = await self.db.scalars(select(Event).where(Event.calendar_id == calendar.id))
        drafts = [draft_of(row) for row in rows]
        return ics.render(calendar.name, calendar.time_zone, drafts, calendar.updated_at)

    async def calendar_version(self, user_id: uuid.UUID, calendar_id: uuid.UUID) -> int:
        """The version of one of the user's calendars, found as cheaply as a cached page's ETag is (the
        CalDAV server keys its cached answers on it); CalendarNotFound if it is not theirs."""
        async with _autocommit(self.db).connect() as conn:
            version = (await conn.execute(_VERSION_OF, {"owner": user_id, "calendar": calendar_id})).scalar()
        if version is None:
            raise CalendarNotFound(f"no calendar {calendar_id}")
        return int(version)

    # ---- imports ---------------------------------------------------------------------------------

    async def import_ics(self, user_id: uuid.UUID, calendar_id: uuid.UUID, data: bytes) -> CalendarImport:
        """Import an .ics: small files at once (a bad file is a 422), large ones as a worker job."""
        if len(data) > self.settings.calendar_import_max_bytes:
            raise UploadTooLarge(f"the file is larger than {self.settings.calendar_import_max_bytes} bytes")
        if len(data) <= self.settings.calendar_import_inline_bytes:
            return await import_inline(self.db, user_id, calendar_id, data, self.settings)
        calendar = await self.calendar(user_id, calendar_id)
        check_writable(calendar)
        job = CalendarImport(id=uuid.uuid4(), calendar_id=calendar.id, size_bytes=len(data), payload=data)
        job.status = ImportStatus.PENDING
        self.db.add(job)
        await self.db.commit()
        await self.enqueue_import(job.id)
        await self.db.refresh(job)
        return job

    async def import_status(
        self, user_id: uuid.UUID, calendar_id: uuid.UUID, import_id: uuid.UUID
    ) -> CalendarImport:
        calendar = await self.calendar(user_id, calendar_id)
        job = await self.db.scalar(
            select(CalendarImport).where(
                CalendarImport.id == import_id, CalendarImport.calendar_id == calendar.id
            )
        )
        if job is None:
            raise ImportNotFound(f"no import {import_id}")
        return job


_AUTOCOMMIT: weakref.WeakKeyDictionary[AsyncEngine, AsyncEngine] = weakref.WeakKeyDictionary()
# Built once: each CalDAV read's statement would otherwise be constructed again before its cache lookup.
_VERSION_OF = select(Calendar.version).where(
    Calendar.owner_id == bindparam("owner"), Calendar.id == bindparam("calendar")
)


def _autocommit(db: AsyncSession) -> AsyncEngine:
    """The session's engine without transactions (same pool): for single read statements."""
    engine = db.bind
    assert isinstance(engine, AsyncEngine)
    found = _AUTOCOMMIT.get(engine)
    if found is None:
        found = _AUTOCOMMIT[engine] = engine.execution_options(isolation_level="AUTOCOMMIT")
    return found
