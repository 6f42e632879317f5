"""Events with no HTTP: read and create one, and edit or delete a series as a whole, one occurrence of it, or
this and following occurrences (a split). Every lookup is scoped to the calling user."""

from __future__ import annotations

import uuid
from datetime import UTC, timedelta
from typing import Literal

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from aiwfe.calendar import quota, writes
from aiwfe.calendar.bodies import end_wall, invalid, keys_change, patched, to_wall, whole_edit
from aiwfe.calendar.draft import EventDraft, checked
from aiwfe.calendar.errors import EventNotFound, InvalidQuery, PreconditionFailed
from aiwfe.calendar.models import Calendar, Event
from aiwfe.calendar.recurrence import (
    RecurrenceError,
    first_instance,
    key_to_wall,
    occurs,
    parse_key,
    split_rule,
    zone,
)
from aiwfe.calendar.rows import EventRow
from aiwfe.calendar.schemas import EventIn, EventPatch
from aiwfe.calendar.stamps import hot_write
from aiwfe.calendar.store import bump_version, draft_of, fill, new_row
from aiwfe.calendar.sync.service import check_writable
from aiwfe.core.etags import etag_matches
from aiwfe.core.logging import get_logger
from aiwfe.core.settings import Settings

log = get_logger(__name__)
Scope = Literal["series", "occurrence", "following"]


class EventService:
    def __init__(self, db: AsyncSession, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.limit = settings.calendar_max_instances
        self.budget = settings.calendar_recurrence_budget

    async def _owned_event(self, user_id: uuid.UUID, event_id: uuid.UUID) -> tuple[Event, Calendar]:
        found = (
            await self.db.execute(
                select(Event, Calendar)
                .join(Calendar, Calendar.id == Event.calendar_id)
                .where(Event.id == event_id, Calendar.owner_id == user_id)
            )
        ).one_or_none()
        if found is None:
            raise EventNotFound(f"no event {event_id}")
        return found[0], found[1]

    async def event(self, user_id: uuid.UUID, event_id: uuid.UUID) -> Event:
        return (await self._owned_event(user_id, event_id))[0]

    async def create_event(self, user_id: uuid.UUID, body: EventIn) -> writes.Written:
        async with hot_write(self.db, user_id) as conn:
            target = await writes.lock_target(conn, user_id, body.calendar_id)
            check_writable(target)
            draft = self._new_draft(body, target.time_zone)
            return await writes.insert_event(conn, target, draft, self.budget, self.settings)

    def _new_draft(self, body: EventIn, default_tz: str) -> EventDraft:
        dtstart, tzid = to_wall(body.start, default_tz)
        if body.end is not None:
            dtend = end_wall(body.end, tzid, default_tz)
        else:
            dtend = dtstart + timedelta(days=1) if tzid is None else dtstart
        draft = EventDraft(
            dtstart=dtstart,
            dtend=dtend,
            tzid=tzid,
            summary=body.summary,
            description=body.description,
            location=body.location,
            status=body.status,
            transparency=body.transparency,
        )
        if body.uid:
            draft = draft.with_changes(uid=body.uid)
        try:
            return checked(
                draft, rrule=body.rrule or "", rdates=body.rdates, exdates=body.exdates, budget=self.budget
            )
        except RecurrenceError as exc:
            raise invalid(exc) from None

    async def _series(self, user_id: uuid.UUID, event_id: uuid.UUID) -> tuple[Event, Calendar, str | None]:
        """The master of the series ``event_id`` belongs to, and the occurrence key if it is an override."""
        row, calendar = await self._owned_event(user_id, event_id)
        if row.recurrence_id is None:
            return row, calendar, None
        master = await self.db.scalar(
            select(Event).where(
                Event.calendar_id == row.calendar_id, Event.uid == row.uid, Event.recurrence_id.is_(None)
            )
        )
        if master is None:
            return row, calendar, None  # an override whose series we never got: it stands alone
        return master, calendar, row.recurrence_id

    def _occurrence_key(self, master: Event, recurrence_id: str | None, given: str | None) -> str:
        value = given if given is not None else recurrence_id
        if value is None:
            raise InvalidQuery("recurrence_id", "is required for this scope")
        if not master.is_recurring:
            raise InvalidQuery("scope", "the event does not recur; use scope=series")
        try:
            key = parse_key(
                value, tz=None if master.tzid is None else zone(master.tzid), field="recurrence_id"
            )
        except RecurrenceError as exc:
            raise InvalidQuery(exc.field, exc.message) from None
        if not occurs(draft_of(master).series, key, limit=self.limit, budget=self.budget):
            raise EventNotFound(f"the series has no occurrence {key}")
        return key

    async def _overrides(self, master: Event) -> list[Event]:
        rows = await self.db.scalars(
            select(Event).where(
                Event.calendar_id == master.calendar_id,
                Event.uid == master.uid,
                Event.recurrence_id.is_not(None),
            )
        )
        return list(rows)

    @staticmethod
    def _check_etag(row: Event | EventRow, if_match: str | None) -> None:
        if if_match is None:
            return
        if not etag_matches(if_match, row.etag):
            raise PreconditionFailed("the event changed since you read it (ETag mismatch)")

    async def update_event(
        self,
        user_id: uuid.UUID,
        event_id: uuid.UUID,
        body: EventPatch,
        *,
        scope: Scope = "series",
        recurrence_id: str | None = None,
        if_match: str | None = None,
    ) -> Event | writes.Written:
        if scope == "series":
            written = await self._edit_whole(user_id, event_id, body, if_match)
            if written is not None:
                return written
        master, calendar, own_key = await self._series(user_id, event_id)
        check_writable(calendar)
        if own_key is not None and scope == "series":
            scope = "occurrence"
        self._check_etag(
            master if own_key is None else (await self._owned_event(user_id, event_id))[0], if_match
        )
        if scope == "series":
            row = await self._edit_series(master, calendar, body)
        else:
            key = self._occurrence_key(master, own_key, recurrence_id)
            if scope == "occurrence":
                row = await self._edit_occurrence(master, calendar, key, body)
            elif key == first_instance(draft_of(master).series).key:
                row = await self._edit_series(master, calendar, body)
            else:
                row = await self._edit_following(master, calendar, key, body)
        await bump_version(self.db, calendar)
        if scope != "series":  # an occurrence's override or the split-off series is a new row
            await quota.check_room(self.db, calendar, self.settings)
        await self.db.commit()
        return row  # its server-set columns came back with the INSERT or UPDATE (eager_defaults)

    async def _edit_whole(
        self, user_id: uuid.UUID, event_id: uuid.UUID, body: EventPatch, if_match: str | None
    ) -> writes.Written | None:
        """An edit of a whole series or a single event on the hot path; None when ``event_id`` is one
        occurrence's override (the ORM path edits that occurrence)."""
        async with hot_write(self.db, user_id) as conn:
            row, target = await writes.owned_event(conn, user_id, event_id)
            if row.recurrence_id is not None:
                return None
            check_writable(target)
            self._check_etag(row, if_match)
            new, moved = whole_edit(draft_of(row), body, target.time_zone, budget=self.budget)
            return await writes.replace_event(conn, row, new, self.budget, drop_overrides=moved)

    async def _edit_series(self, master: Event, calendar: Calendar, body: EventPatch) -> Event:
        new, moved = whole_edit(draft_of(master), body, calendar.time_zone, budget=self.budget)
        if moved:
            for override in await self._overrides(master):
                await self.db.delete(override)
        fill(master, new, budget=self.budget)
        await self.db.flush()
        return master

    async def _edit_occurrence(self, master: Event, calendar: Calendar, key: str, body: EventPatch) -> Event:
        existing = await self.db.scalar(
            select(Event).where(
                Event.calendar_id == master.calendar_id, Event.uid == master.uid, Event.recurrence_id == key
            )
        )
        if existing is not None:
            base = draft_of(existing)
        else:
            series = draft_of(master)
            tz = series.series.tz
            wall = key_to_wall(key, tz)
            if tz is None:
                end = wall + (series.dtend - series.dtstart)
            else:
                start = wall.replace(tzinfo=tz).astimezone(UTC)
                end = (start + series.series.duration).astimezone(tz).replace(tzinfo=None)
            base = series.with_changes(
                dtstart=wall, dtend=end, rrule=None, rdates=(), exdates=(), recurrence_id=key
            )
        new = patched(base, body, calendar.time_zone, whole=False, budget=self.budget)
        row = existing or Event(id=uuid.uuid4(), calendar_id=master.calendar_id)
        fill(row, new.with_changes(sequence=base.sequence + 1), budget=self.budget)
        if existing is None:
            self.db.add(row)
        await self.db.flush()
        return row

    async def _edit_following(self, master: Event, calendar: Calendar, key: str, body: EventPatch) -> Event:
        tail = await self._split(master, key)
        if tail is None:
            raise InvalidQuery("recurrence_id", f"the series has no occurrences from {key} on")
        new = patched(tail, body, calendar.time_zone, whole=True, budget=self.budget)
        moved = await self._overrides_from(master, key)
        if keys_change(tail, new):
            if "exdates" not in body.model_fields_set:
                new = new.with_changes(exdates=())
            for override in moved:
                await self.db.delete(override)
        else:
            for override in moved:
                override.uid = new.uid
        row = new_row(master.calendar_id, new, budget=self.budget)
        self.db.add(row)
        await self.db.flush()
        log.info("calendar_series_split", event_id=str(master.id), at=key, new_event_id=str(row.id))
        return row

    async def _overrides_from(self, master: Event, key: str) -> list[Event]:
        return [o for o in await self._overrides(master) if o.recurrence_id and o.recurrence_id >= key]

    async def _split(self, master: Event, key: str) -> EventDraft | None:
        """End ``master`` just before occurrence ``key``; return the rest as a new series' draft."""
        old = draft_of(master)
        series = old.series
        tz = series.tz
        rest: str | None = None
        before = old.rrule
        if old.rrule:
            try:
                before, rest = split_rule(series, key, budget=self.budget)
            except RecurrenceError as exc:
                raise invalid(exc) from None
        head = old.with_changes(
            rrule=before,
            rdates=tuple(k for k in old.rdates if k < key),
            exdates=tuple(k for k in old.exdates if k < key),
            sequence=old.sequence + 1,
        )
        fill(master, head, budget=self.budget)
        later_rdates = tuple(k for k in old.rdates if k > key)
        if rest is None and not later_rdates and key not in old.rdates:
            return None
        wall = key_to_wall(key, tz)
        if tz is None:
            end = wall + (old.dtend - old.dtstart)
        else:
            start = wall.replace(tzinfo=tz).astimezone(UTC)
            end = (start + series.duration).astimezone(tz).replace(tzinfo=None)
        return EventDraft(
            dtstart=wall,
            dtend=end,
            tzid=old.tzid,
            summary=old.summary,
            description=old.description,
            location=old.location,
            rrule=rest,
            rdates=later_rdates,
            exdates=tuple(k for k in old.exdates if k > key),
            status=old.status,
            transparency=old.transparency,
        )

    async def delete_event(
        self,
        user_id: uuid.UUID,
        event_id: uuid.UUID,
        *,
        scope: Scope = "series",
        recurrence_id: str | None = None,
        if_match: str | None = None,
    ) -> None:
        master, calendar, own_key = await self._series(user_id, event_id)
        check_writable(calendar)
        if own_key is not None and scope == "series":
            scope = "occurrence"
        self._check_etag(
            master if own_key is None else (await self._owned_event(user_id, event_id))[0], if_match
        )
        if scope != "series" and master.is_recurring:
            key = self._occurrence_key(master, own_key, recurrence_id)
            if scope == "following" and key == first_instance(draft_of(master).series).key:
                scope = "series"
        if scope == "series" or not master.is_recurring:
            await self.db.execute(
                delete(Event).where(Event.calendar_id == master.calendar_id, Event.uid == master.uid)
            )
        elif scope == "occurrence":
            old = draft_of(master)
            fill(
                master,
                old.with_changes(exdates=tuple(sorted({*old.exdates, key})), sequence=old.sequence + 1),
                budget=self.budget,
            )
            await self.db.execute(
                delete(Event).where(
                    Event.calendar_id == master.calendar_id,
                    Event.uid == master.uid,
                    Event.recurrence_id == key,
                )
            )
        else:
            await self._split(master, key)
            for override in await self._overrides_from(master, key):
                await self.db.delete(override)
        await bump_version(self.db, calendar)
        await self.db.commit()
