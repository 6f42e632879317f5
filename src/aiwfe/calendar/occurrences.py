"""Occurrences with no HTTP: series expanded over a range, overrides and EXDATEs merged; pages of them
(cached under their ETag) and free/busy. The reminder scan and CalDAV read the same ``Occurrence``s."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property, partial

from sqlalchemy.ext.asyncio import AsyncSession

from aiwfe.calendar import rows
from aiwfe.calendar.cache import FORMAT, PageCache
from aiwfe.calendar.errors import InvalidQuery
from aiwfe.calendar.models import Calendar, EventStatus, Transparency
from aiwfe.calendar.offload import Job, expand_all, in_thread
from aiwfe.calendar.recurrence import Expansion, Instance, first_instance, overlaps, zone
from aiwfe.calendar.rows import CalendarRow, EventRow
from aiwfe.calendar.schemas import BusyPeriod, EventTime, FreeBusyOut, OccurrenceOut, OccurrencePage
from aiwfe.calendar.store import draft_of
from aiwfe.core import sql
from aiwfe.core.cursors import BadCursor, decode_cursor, encode_cursor
from aiwfe.core.settings import Settings


@dataclass(frozen=True)
class RangeQuery:
    start: datetime
    end: datetime
    calendar_id: uuid.UUID | None = None
    limit: int = 250
    cursor: str | None = None


@dataclass
class Occurrence:
    calendar: CalendarRow
    master: EventRow | None
    override: EventRow | None
    instance: Instance
    start: datetime
    end: datetime

    @property
    def content(self) -> EventRow:
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


class OccurrenceService:
    def __init__(self, db: AsyncSession, settings: Settings, pages: PageCache) -> None:
        self.db = db
        self.engine = sql.engine_of(db)
        self.settings = settings
        self.limit = settings.calendar_max_instances
        self.pages = pages

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

    async def _in_range(
        self, user_id: uuid.UUID, calendar_id: uuid.UUID | None, start: datetime, end: datetime
    ) -> tuple[list[Occurrence], bool]:
        """The occurrences of the user's calendars (or one of them): both reads on one borrowed connection."""
        async with sql.connect(self.engine) as conn:
            calendars = await rows.owned_calendars(conn, user_id, calendar_id)
            loaded = await rows.events_in(conn, calendars, start, end) if calendars else []
        return await self._expand(calendars, loaded, start, end)

    async def occurrences(
        self,
        calendars: Sequence[Calendar | CalendarRow],
        start: datetime,
        end: datetime,
        *,
        series_of: Collection[uuid.UUID] | None = None,
    ) -> tuple[list[Occurrence], bool]:
        """Every occurrence in [start, end) of the given calendars, expanded, overrides and exdates merged,
        sorted by start; and whether a runaway rule was cut at the limit. ``series_of`` (event ids) keeps
        only the series those events belong to (the reminder scan). Committed rows only: the read borrows
        a connection of its own, not the session's."""
        if not calendars:
            return [], False
        chosen = [CalendarRow.of(calendar) for calendar in calendars]
        async with sql.connect(self.engine) as conn:
            loaded = await rows.events_in(conn, chosen, start, end, series_of)
        return await self._expand(chosen, loaded, start, end)

    async def _expand(
        self, calendars: Sequence[CalendarRow], loaded: list[EventRow], start: datetime, end: datetime
    ) -> tuple[list[Occurrence], bool]:
        by_id = {calendar.id: calendar for calendar in calendars}
        groups: dict[tuple[uuid.UUID, str], list[EventRow]] = defaultdict(list)
        for row in loaded:
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
        groups: dict[tuple[uuid.UUID, str], list[EventRow]],
        masters: dict[tuple[uuid.UUID, str], EventRow | None],
        expansions: dict[tuple[uuid.UUID, str], Expansion],
        by_id: dict[uuid.UUID, CalendarRow],
        start: datetime,
        end: datetime,
    ) -> tuple[list[Occurrence], bool]:
        found: list[Occurrence] = []
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
                        found.append(Occurrence(calendar, master, None, instance, lo, hi))
            for key, override in overrides.items():
                if key in exdates:
                    continue
                own = first_instance(draft_of(override).series)
                instance = Instance(key, own.start, own.end)
                lo, hi = instance.bounds(date_zone)
                if overlaps(lo, hi, start, end):
                    found.append(Occurrence(calendar, master, override, instance, lo, hi))
        found.sort(key=lambda o: (o.start, o.id))
        return found, truncated

    def _job(self, master: EventRow, calendar: CalendarRow, start: datetime, end: datetime) -> Job:
        # A write gives its row a new ETag: the other series' expansions are reused.
        key = (master.id, master.etag, calendar.time_zone, start, end, self.limit)
        return Job(key, lambda: draft_of(master).series, zone(calendar.time_zone))

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
        found, truncated = await self._in_range(user_id, query.calendar_id, start, end)
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
        found, truncated = await self._in_range(user_id, calendar_id, start, end)
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


def _instance_time(moment: datetime, tzid: str | None) -> EventTime:
    if tzid is None:
        return EventTime(date=moment.date())
    return EventTime(date_time=moment, time_zone=tzid)


def _encode_cursor(start: datetime, occurrence_id: str) -> str:
    return encode_cursor(start, occurrence_id)


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        return decode_cursor(cursor)
    except BadCursor:
        raise InvalidQuery("cursor", "is not a cursor this API returned") from None
