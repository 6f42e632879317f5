"""The calendar domain's logic, with no HTTP: calendars, events and their edits (one occurrence, this and
following, the whole series), range queries with server-side expansion, free/busy, feeds, ICS import and
export. Every lookup is scoped to the calling user: another user's id is simply not found.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
import weakref
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property, partial
from typing import Literal

from redis.asyncio import Redis
from sqlalchemy import bindparam, delete, or_, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from aiwfe.auth.models import User
from aiwfe.calendar import ics, imports, quota
from aiwfe.calendar.cache import FORMAT, PageCache
from aiwfe.calendar.draft import EventDraft, checked
from aiwfe.calendar.errors import (
    CalendarNotFound,
    EventNotFound,
    FeedNotFound,
    ImportFailed,
    ImportNotFound,
    InvalidEvent,
    InvalidQuery,
    PreconditionFailed,
    UidTaken,
    UploadTooLarge,
)
from aiwfe.calendar.models import Calendar, CalendarImport, Event, EventStatus, ImportStatus, Transparency
from aiwfe.calendar.offload import Job, expand_all, in_thread
from aiwfe.calendar.recurrence import (
    Expansion,
    Instance,
    RecurrenceError,
    first_instance,
    key_to_wall,
    occurs,
    overlaps,
    parse_key,
    split_rule,
    zone,
)
from aiwfe.calendar.schemas import (
    BusyPeriod,
    CalendarIn,
    CalendarPatch,
    EventIn,
    EventOut,
    EventPatch,
    EventTime,
    FreeBusyOut,
    OccurrenceOut,
    OccurrencePage,
)
from aiwfe.calendar.store import bump_version, draft_of, fill, new_row
from aiwfe.calendar.sync.service import check_writable
from aiwfe.core.crypto import new_token, token_hash
from aiwfe.core.cursors import BadCursor, decode_cursor, encode_cursor
from aiwfe.core.etags import etag_matches
from aiwfe.core.logging import get_logger
from aiwfe.core.settings import Settings

log = get_logger(__name__)
Scope = Literal["series", "occurrence", "following"]
EnqueueImport = Callable[[uuid.UUID], Awaitable[None]]


@dataclass
class CalendarDeps:
    """Per-process collaborators of the calendar service (built once in the app's lifespan)."""

    settings: Settings
    redis: Redis
    enqueue_import: EnqueueImport
    # The API process's page cache; without one, pages are cached in Redis only.
    pages: PageCache | None = None


@dataclass(frozen=True)
class RangeQuery:
    start: datetime
    end: datetime
    calendar_id: uuid.UUID | None = None
    limit: int = 250
    cursor: str | None = None


def _invalid(exc: RecurrenceError) -> InvalidEvent:
    return InvalidEvent(exc.field, exc.message)


# ---- conversions between the API's times and wall clock ------------------------------------------


def _wall(time: EventTime, default_tz: str) -> tuple[datetime, str | None]:
    """An API time as (wall clock, TZID); all-day dates have no TZID."""
    if time.date is not None:
        return datetime.combine(time.date, datetime.min.time()), None
    assert time.date_time is not None
    tzid = time.time_zone or default_tz
    moment = time.date_time
    if moment.tzinfo is not None:
        moment = moment.astimezone(zone(tzid)).replace(tzinfo=None)
    return moment.replace(microsecond=0), tzid


def _end_wall(end: EventTime, start_tzid: str | None, default_tz: str) -> datetime:
    """The end in the start's zone (one TZID per event)."""
    wall, tzid = _wall(end, start_tzid or default_tz)
    if (tzid is None) != (start_tzid is None):
        raise InvalidEvent("end", "must be a date when the start is a date, and a date_time otherwise")
    if tzid is not None and start_tzid is not None and tzid != start_tzid:
        moment = wall.replace(tzinfo=zone(tzid)).astimezone(zone(start_tzid))
        return moment.replace(tzinfo=None)
    return wall


def event_time(wall: datetime, tzid: str | None) -> EventTime:
    if tzid is None:
        return EventTime(date=wall.date())
    tz = zone(tzid)
    return EventTime(date_time=wall.replace(tzinfo=tz).astimezone(UTC).astimezone(tz), time_zone=tzid)


def _instance_time(moment: datetime, tzid: str | None) -> EventTime:
    if tzid is None:
        return EventTime(date=moment.date())
    return EventTime(date_time=moment, time_zone=tzid)


def event_out(row: Event) -> EventOut:
    return EventOut(
        id=row.id,
        calendar_id=row.calendar_id,
        uid=row.uid,
        recurrence_id=row.recurrence_id,
        summary=row.summary,
        description=row.description,
        location=row.location,
        all_day=row.all_day,
        start=event_time(row.dtstart, row.tzid),
        end=event_time(row.dtend, row.tzid),
        rrule=row.rrule,
        rdates=list(row.rdates),
        exdates=list(row.exdates),
        status=row.status,
        transparency=row.transparency,
        sequence=row.sequence,
        etag=row.etag,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _keys_change(old: EventDraft, new: EventDraft) -> bool:
    """Whether the occurrence keys of a series move (so its exceptions no longer apply)."""
    return (old.dtstart, old.tzid, old.rrule) != (new.dtstart, new.tzid, new.rrule)


def _patched(draft: EventDraft, body: EventPatch, default_tz: str, *, whole: bool, budget: int) -> EventDraft:
    """``draft`` with the fields present in ``body``; ``whole`` allows recurrence changes."""
    given = body.model_fields_set
    if not whole:
        for name in ("rrule", "rdates", "exdates"):
            if name in given:
                raise InvalidEvent(name, "cannot be set on one occurrence; edit the series")
    changes: dict[str, object] = {}
    for name in ("summary", "description", "location", "status", "transparency"):
        value = getattr(body, name)
        if name in given and value is not None:
            changes[name] = value
    dtstart, dtend, tzid = draft.dtstart, draft.dtend, draft.tzid
    if body.start is not None:
        dtstart, tzid = _wall(body.start, draft.tzid or default_tz)
        if body.end is None:
            if (tzid is None) != (draft.tzid is None):
                raise InvalidEvent("end", "is required when switching between all-day and timed")
            if tzid is None:
                dtend = dtstart + (draft.dtend - draft.dtstart)
            else:
                elapsed = draft.series.duration
                start = dtstart.replace(tzinfo=zone(tzid)).astimezone(UTC)
                dtend = (start + elapsed).astimezone(zone(tzid)).replace(tzinfo=None)
    if body.end is not None:
        dtend = _end_wall(body.end, tzid, default_tz)
    changed = draft.with_changes(dtstart=dtstart, dtend=dtend, tzid=tzid, **changes)
    try:
        return checked(
            changed,
            rrule=(body.rrule or "") if "rrule" in given else (draft.rrule or ""),
            rdates=body.rdates if "rdates" in given and body.rdates is not None else list(draft.rdates),
            exdates=body.exdates if "exdates" in given and body.exdates is not None else list(draft.exdates),
            budget=budget,
        )
    except RecurrenceError as exc:
        raise _invalid(exc) from None


def _encode_cursor(start: datetime, occurrence_id: str) -> str:
    return encode_cursor(start, occurrence_id)


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        return decode_cursor(cursor)
    except BadCursor:
        raise InvalidQuery("cursor", "is not a cursor this API returned") from None


@dataclass
class _Occurrence:
    calendar: Calendar
    master: Event | None
    override: Event | None
    instance: Instance
    start: datetime
    end: datetime

    @property
    def content(self) -> Event:
        row = self.override or self.master
        assert row is not None
        return row

    @property
    def event_id(self) -> uuid.UUID:
        return (self.master or self.content).id

    @property
    def recurring(self) -> bool:
        return self.master is not None and self.master.is_recurring

    @property
    def key(self) -> str | None:
        return self.instance.key if self.recurring or self.override is not None else None

    @cached_property
    def id(self) -> str:
        return str(self.event_id) if self.key is None else f"{self.event_id}@{self.key}"

    def out(self) -> OccurrenceOut:
        row = self.content
        return OccurrenceOut(
            id=self.id,
            event_id=self.event_id,
            override_id=self.override.id if self.override else None,
            calendar_id=self.calendar.id,
            uid=row.uid,
            recurrence_id=self.key,
            recurring=self.recurring,
            summary=row.summary,
            description=row.description,
            location=row.location,
            all_day=row.all_day,
            start=_instance_time(self.instance.start, row.tzid),
            end=_instance_time(self.instance.end, row.tzid),
            status=row.status,
            transparency=row.transparency,
            etag=row.etag,
        )


class CalendarService:
    def __init__(self, db: AsyncSession, deps: CalendarDeps) -> None:
        self.db = db
        self.deps = deps
        self.settings = deps.settings
        self.limit = deps.settings.calendar_max_instances
        self.budget = deps.settings.calendar_recurrence_budget
        self.pages = deps.pages or PageCache(
            deps.redis, ttl_seconds=deps.settings.calendar_cache_seconds, memory_bytes=0
        )

    # ---- calendars -------------------------------------------------------------------------------

    async def list_calendars(self, user_id: uuid.UUID) -> Sequence[Calendar]:
        rows = await self.db.scalars(
            select(Calendar).where(Calendar.owner_id == user_id).order_by(Calendar.created_at, Calendar.id)
        )
        return rows.all()

    async def calendar(self, user_id: uuid.UUID, calendar_id: uuid.UUID) -> Calendar:
        found = await self.db.scalar(
            select(Calendar).where(Calendar.id == calendar_id, Calendar.owner_id == user_id)
        )
        if found is None:
            raise CalendarNotFound(f"no calendar {calendar_id}")
        return found

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

    # ---- events ----------------------------------------------------------------------------------

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

    async def create_event(self, user_id: uuid.UUID, body: EventIn) -> Event:
        calendar = await self.calendar(user_id, body.calendar_id)
        check_writable(calendar)
        dtstart, tzid = _wall(body.start, calendar.time_zone)
        if body.end is not None:
            dtend = _end_wall(body.end, tzid, calendar.time_zone)
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
            draft = checked(
                draft, rrule=body.rrule or "", rdates=body.rdates, exdates=body.exdates, budget=self.budget
            )
        except RecurrenceError as exc:
            raise _invalid(exc) from None
        row = new_row(calendar.id, draft, budget=self.budget)
        self.db.add(row)
        await self._flush_unique(draft.uid)
        await bump_version(self.db, calendar)
        await quota.check_room(self.db, calendar, self.settings)
        await self.db.commit()
        return row  # its server-set columns came back with the INSERT (eager_defaults)

    async def _flush_unique(self, uid: str) -> None:
        try:
            await self.db.flush()
        except IntegrityError:
            await self.db.rollback()
            raise UidTaken(f"an event with UID {uid!r} is already in this calendar", field="uid") from None

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
    def _check_etag(row: Event, if_match: str | None) -> None:
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
    ) -> Event:
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

    async def _edit_series(self, master: Event, calendar: Calendar, body: EventPatch) -> Event:
        old = draft_of(master)
        new = _patched(old, body, calendar.time_zone, whole=True, budget=self.budget)
        if _keys_change(old, new):
            # The occurrences moved: exceptions that named the old ones no longer apply.
            if "exdates" not in body.model_fields_set:
                new = new.with_changes(exdates=())
            for override in await self._overrides(master):
                await self.db.delete(override)
        fill(master, new.with_changes(sequence=old.sequence + 1), budget=self.budget)
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
        new = _patched(base, body, calendar.time_zone, whole=False, budget=self.budget)
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
        new = _patched(tail, body, calendar.time_zone, whole=True, budget=self.budget)
        moved = await self._overrides_from(master, key)
        if _keys_change(tail, new):
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
                raise _invalid(exc) from None
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

    # ---- range queries ---------------------------------------------------------------------------

    def _check_range(self, start: datetime, end: datetime) -> tuple[datetime, datetime]:
        for name, value in (("start", start), ("end", end)):
            if value.tzinfo is None:
                raise InvalidQuery(name, "must include a UTC offset (e.g. 2024-03-01T00:00:00Z)")
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if end <= start:
            raise InvalidQuery("end", "must be after start")
        if end - start > timedelta(days=self.settings.calendar_max_range_days):
            raise InvalidQuery(
                "end", f"the range may span at most {self.settings.calendar_max_range_days} days"
            )
        return start, end

    async def _calendars(self, user_id: uuid.UUID, calendar_id: uuid.UUID | None) -> list[Calendar]:
        if calendar_id is not None:
            return [await self.calendar(user_id, calendar_id)]
        return list(await self.list_calendars(user_id))

    async def occurrences(
        self,
        calendars: list[Calendar],
        start: datetime,
        end: datetime,
        *,
        series_of: Collection[uuid.UUID] | None = None,
    ) -> tuple[list[_Occurrence], bool]:
        """Every occurrence in [start, end) of the given calendars, expanded, overrides and exdates merged,
        sorted by start; and whether a runaway rule was cut at the limit. ``series_of`` (event ids) keeps
        only the series those events belong to (the reminder scan)."""
        if not calendars:
            return [], False
        by_id = {calendar.id: calendar for calendar in calendars}
        candidates = (
            select(Event.calendar_id, Event.uid)
            .where(
                Event.calendar_id.in_(list(by_id)),
                Event.span_start < end,
                or_(Event.span_end.is_(None), Event.span_end > start),
            )
            .distinct()
        )
        if series_of is not None:
            chosen = select(Event.calendar_id, Event.uid).where(Event.id.in_(list(series_of)))
            candidates = candidates.where(tuple_(Event.calendar_id, Event.uid).in_(chosen))
        rows = await self.db.scalars(
            select(Event).where(tuple_(Event.calendar_id, Event.uid).in_(candidates))
        )
        groups: dict[tuple[uuid.UUID, str], list[Event]] = defaultdict(list)
        for row in rows:
            groups[(row.calendar_id, row.uid)].append(row)
        masters = {
            key: next((r for r in members if r.recurrence_id is None), None)
            for key, members in groups.items()
        }
        jobs = {key: self._job(m, by_id[key[0]], start, end) for key, m in masters.items() if m is not None}
        # Inline when small, else in a worker thread with a deadline (offload.py).
        expanded = await expand_all(self.pages, self.settings, list(jobs.values()), start, end)
        expansions = dict(zip(jobs, expanded.expansions, strict=True))
        merge = partial(self._merge, groups, masters, expansions, by_id, start, end)
        # Merging and sorting many instances is work of the same size: it follows them off the loop.
        return await in_thread(merge) if expanded.in_thread else merge()

    @staticmethod
    def _merge(
        groups: dict[tuple[uuid.UUID, str], list[Event]],
        masters: dict[tuple[uuid.UUID, str], Event | None],
        expansions: dict[tuple[uuid.UUID, str], Expansion],
        by_id: dict[uuid.UUID, Calendar],
        start: datetime,
        end: datetime,
    ) -> tuple[list[_Occurrence], bool]:
        found: list[_Occurrence] = []
        truncated = False
        for (calendar_id, uid), members in groups.items():
            calendar = by_id[calendar_id]
            date_zone = zone(calendar.time_zone)
            master = masters[(calendar_id, uid)]
            overrides = {row.recurrence_id: row for row in members if row.recurrence_id is not None}
            exdates: set[str] = set()
            if master is not None:
                exdates = set(master.exdates)
                expansion = expansions[(calendar_id, uid)]
                truncated = truncated or expansion.truncated
                for instance in expansion.instances:
                    if instance.key not in overrides:
                        lo, hi = instance.bounds(date_zone)
                        found.append(_Occurrence(calendar, master, None, instance, lo, hi))
            for key, override in overrides.items():
                if key in exdates:
                    continue
                own = first_instance(draft_of(override).series)
                instance = Instance(key, own.start, own.end)
                lo, hi = instance.bounds(date_zone)
                if overlaps(lo, hi, start, end):
                    found.append(_Occurrence(calendar, master, override, instance, lo, hi))
        found.sort(key=lambda o: (o.start, o.id))
        return found, truncated

    def _job(self, master: Event, calendar: Calendar, start: datetime, end: datetime) -> Job:
        # A write gives its row a new ETag: the other series' expansions are reused.
        key = (master.id, master.etag, calendar.time_zone, start, end, self.limit)
        return Job(key, lambda: draft_of(master).series, zone(calendar.time_zone))

    async def calendar_version(self, user_id: uuid.UUID, calendar_id: uuid.UUID) -> int:
        """The version of one of the user's calendars, found as cheaply as a cached page's ETag is (the
        CalDAV server keys its cached answers on it); CalendarNotFound if it is not theirs."""
        async with _autocommit(self.db).connect() as conn:
            version = (await conn.execute(_VERSION_OF, {"owner": user_id, "calendar": calendar_id})).scalar()
        if version is None:
            raise CalendarNotFound(f"no calendar {calendar_id}")
        return int(version)

    def page_etag(self, user_id: uuid.UUID, query: RangeQuery, stamp: str) -> str:
        """The ETag of a page: it changes when the user's calendar stamp (``stamps.py``: after any change to
        one of their calendars or its events) or the query does. No query: a cache hit reads no database."""
        start, end = self._check_range(query.start, query.end)
        if query.cursor:
            _decode_cursor(query.cursor)
        state = [
            str(user_id),
            stamp,
            str(query.calendar_id or ""),
            start.isoformat(),
            end.isoformat(),
            query.limit,
            query.cursor,
            self.limit,
            FORMAT,
        ]
        return hashlib.sha256(json.dumps(state).encode()).hexdigest()[:32]

    async def occurrence_page(self, user_id: uuid.UUID, query: RangeQuery, etag: str) -> bytes:
        """One page of occurrences as JSON, cached under its ETag (see ``cache.py``)."""
        return await self.pages.get_or_build(etag, lambda: self._build_page(user_id, query))

    async def _build_page(self, user_id: uuid.UUID, query: RangeQuery) -> bytes:
        start, end = self._check_range(query.start, query.end)
        calendars = await self._calendars(user_id, query.calendar_id)
        found, truncated = await self.occurrences(calendars, start, end)
        if query.cursor:
            after = _decode_cursor(query.cursor)
            found = [o for o in found if (o.start, o.id) > after]
        page = found[: query.limit]
        more = len(found) > query.limit
        body = OccurrencePage(
            items=[o.out() for o in page],
            next_cursor=_encode_cursor(page[-1].start, page[-1].id) if more else None,
            truncated=truncated,
        ).model_dump_json()
        return body.encode()

    async def free_busy(
        self, user_id: uuid.UUID, start: datetime, end: datetime, calendar_id: uuid.UUID | None = None
    ) -> FreeBusyOut:
        """Busy periods (merged, in UTC) of my calendars; transparent and cancelled events are free."""
        start, end = self._check_range(start, end)
        calendars = await self._calendars(user_id, calendar_id)
        found, truncated = await self.occurrences(calendars, start, end)
        busy: list[list[datetime]] = []
        for occurrence in found:
            row = occurrence.content
            if row.status is EventStatus.CANCELLED or row.transparency is Transparency.TRANSPARENT:
                continue
            lo, hi = max(occurrence.start, start), min(occurrence.end, end)
            if hi <= lo:
                continue
            if busy and lo <= busy[-1][1]:
                busy[-1][1] = max(busy[-1][1], hi)
            else:
                busy.append([lo, hi])
        return FreeBusyOut(
            start=start,
            end=end,
            busy=[BusyPeriod(start=lo, end=hi) for lo, hi in busy],
            truncated=truncated,
        )

    # ---- imports ---------------------------------------------------------------------------------

    async def import_ics(self, user_id: uuid.UUID, calendar_id: uuid.UUID, data: bytes) -> CalendarImport:
        """Import an .ics: small files at once (a bad file is a 422), large ones as a worker job."""
        calendar = await self.calendar(user_id, calendar_id)
        check_writable(calendar)
        if len(data) > self.settings.calendar_import_max_bytes:
            raise UploadTooLarge(f"the file is larger than {self.settings.calendar_import_max_bytes} bytes")
        job = CalendarImport(id=uuid.uuid4(), calendar_id=calendar.id, size_bytes=len(data))
        if len(data) > self.settings.calendar_import_inline_bytes:
            job.payload = data
            job.status = ImportStatus.PENDING
            self.db.add(job)
            await self.db.commit()
            await self.deps.enqueue_import(job.id)
            await self.db.refresh(job)
            return job
        try:
            # Parsing and checking rules is CPU work, bounded by the import's budget: off the event loop.
            parsed = await asyncio.to_thread(imports.parse, data, calendar, self.settings)
        except ics.IcsError as exc:
            raise ImportFailed(str(exc)) from None
        applied = await imports.apply(self.db, calendar, parsed.events, budget=self.budget)
        await quota.check_room(self.db, calendar, self.settings)
        job.status = ImportStatus.SUCCEEDED
        job.total = job.processed = applied.total
        job.created, job.updated = applied.created, applied.updated
        job.details = {"skipped_components": parsed.skipped}
        job.finished_at = datetime.now(UTC)
        self.db.add(job)
        await self.db.commit()
        return job  # its created_at came back with the INSERT

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
