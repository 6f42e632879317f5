"""The CalDAV server's logic, with no HTTP: calendar object resources (one UID: master and overrides) read
and written through the calendar domain's store, queries, expansion and sync-collection changes."""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from aiwfe.caldav import ical
from aiwfe.caldav.errors import CALDAV, DAV, DavForbidden, DavPrecondition, DavPreconditionFailed
from aiwfe.caldav.models import Change, ResourceName
from aiwfe.caldav.query import Filter, TimeRange
from aiwfe.caldav.timerange import Timing, occurring
from aiwfe.calendar import ics, quota
from aiwfe.calendar.draft import EventDraft
from aiwfe.calendar.errors import TooManyEvents
from aiwfe.calendar.models import Calendar, CalendarSource, Event
from aiwfe.calendar.occurrences import Occurrence, OccurrenceService
from aiwfe.calendar.recurrence import Instance, zone
from aiwfe.calendar.rows import EventRow
from aiwfe.calendar.schemas import FreeBusyOut
from aiwfe.calendar.service import CalendarService
from aiwfe.calendar.store import bump_version, draft_of, fill, new_row
from aiwfe.calendar.sync.service import is_read_only
from aiwfe.core.etags import etag_matches

SYNC_PREFIX = "urn:aiwfe:caldav:sync:"
MAX_RESOURCE_EVENTS = 1000


@dataclass
class Resource:
    """One calendar object resource: every row of one UID in one calendar."""

    name: str
    uid: str
    rows: list[Event]

    @property
    def etag(self) -> str:
        # Each write gives a row a new ETag: the resource's changes exactly when one of its rows does.
        parts = sorted(f"{row.recurrence_id or ''}:{row.etag}" for row in self.rows)
        return '"' + hashlib.sha256("|".join(parts).encode()).hexdigest()[:32] + '"'

    @property
    def master(self) -> Event:
        return next((row for row in self.rows if row.recurrence_id is None), self.rows[0])


@dataclass
class Written:
    etag: str
    created: bool


@dataclass
class Changes:
    token: str
    changed: list[Resource]
    removed: list[str]


def default_name(uid: str) -> str:
    return f"{uid}.ics"


def sync_token(calendar: Calendar) -> str:
    return f"{SYNC_PREFIX}{calendar.id}:{calendar.version}"


def ctag(calendar: Calendar) -> str:
    return str(calendar.version)


class DavService:
    def __init__(self, db: AsyncSession, calendars: CalendarService, occurrences: OccurrenceService) -> None:
        self.db = db
        self.calendars = calendars
        self.occurrences = occurrences
        self.settings = calendars.settings
        self.limit = occurrences.limit
        self.budget = calendars.budget
        # One expansion per window and request: a query's time-range and its <C:expand> are usually the same.
        self._by_window: dict[tuple[uuid.UUID, datetime, datetime], list[Occurrence]] = {}

    # ---- collections -----------------------------------------------------------------------------

    async def create_calendar(
        self, user_id: uuid.UUID, calendar_id: uuid.UUID, name: str, color: str, time_zone: str
    ) -> Calendar:
        calendar = Calendar(
            id=calendar_id,
            owner_id=user_id,
            name=name,
            color=color,
            time_zone=time_zone,
            source=CalendarSource.LOCAL,
        )
        self.db.add(calendar)
        await self.db.commit()
        await self.db.refresh(calendar)
        return calendar

    async def exists(self, calendar_id: uuid.UUID) -> bool:
        return await self.db.scalar(select(Calendar.id).where(Calendar.id == calendar_id)) is not None

    # ---- resources -------------------------------------------------------------------------------

    async def _names(self, calendar: Calendar, uids: Collection[str] | None = None) -> dict[str, str]:
        query = select(ResourceName.uid, ResourceName.name).where(ResourceName.calendar_id == calendar.id)
        if uids is not None:
            query = query.where(ResourceName.uid.in_(list(uids)))
        return {uid: name for uid, name in (await self.db.execute(query)).all()}

    async def uid_of(self, calendar: Calendar, name: str) -> str | None:
        """The UID a resource name stands for (a client's own name, else ``<UID>.ics``)."""
        named = await self.db.scalar(
            select(ResourceName.uid).where(ResourceName.calendar_id == calendar.id, ResourceName.name == name)
        )
        if named is not None:
            return named
        return name.removesuffix(".ics") if name.endswith(".ics") else None

    async def resources(self, calendar: Calendar, uids: Collection[str] | None = None) -> list[Resource]:
        query = select(Event).where(Event.calendar_id == calendar.id)
        if uids is not None:
            query = query.where(Event.uid.in_(list(uids)))
        groups: dict[str, list[Event]] = defaultdict(list)
        for row in await self.db.scalars(query):
            groups[row.uid].append(row)
        names = await self._names(calendar, list(groups) if uids is not None else None)
        return [
            Resource(names.get(uid, default_name(uid)), uid, sorted(rows, key=_row_order))
            for uid, rows in sorted(groups.items())
        ]

    async def resource(self, calendar: Calendar, name: str) -> Resource | None:
        uid = await self.uid_of(calendar, name)
        if uid is None:
            return None
        found = await self.resources(calendar, [uid])
        if not found:
            return None
        # A UID stored under a client's name is not also reachable as <UID>.ics.
        return found[0] if found[0].name == name else None

    def render(self, calendar: Calendar, resource: Resource) -> bytes:
        return ical.resource(calendar, resource.rows)

    async def put(
        self,
        calendar: Calendar,
        name: str,
        data: bytes,
        *,
        href: str,
        if_match: str | None,
        if_none_match: str | None,
    ) -> Written:
        """Create or replace the resource ``name`` from an .ics holding one UID's VEVENTs."""
        _check_writable(calendar)
        drafts = self._parse(calendar, data)
        uid = drafts[0].uid
        current = await self.resource(calendar, name)
        self._check_preconditions(current, if_match, if_none_match)
        if current is not None and current.uid != uid:
            raise DavPrecondition(403, CALDAV, "no-uid-conflict", "a resource's UID cannot change", href)
        if current is None:
            taken = await self.resources(calendar, [uid])
            if taken:
                raise DavPrecondition(
                    403, CALDAV, "no-uid-conflict", f"UID {uid!r} is already stored as {taken[0].name}", href
                )
        existing = {row.recurrence_id: row for row in (current.rows if current else [])}
        for draft in drafts:
            row = existing.pop(draft.recurrence_id, None)
            if row is None:
                self.db.add(new_row(calendar.id, draft, budget=self.budget))
            else:
                # In place: the series keeps its id, so its reminders stay attached.
                fill(row, draft, budget=self.budget)
        for row in existing.values():
            await self.db.delete(row)
        if current is None:
            await self.db.execute(
                delete(ResourceName).where(
                    ResourceName.calendar_id == calendar.id,
                    or_(ResourceName.name == name, ResourceName.uid == uid),
                )
            )
            if name != default_name(uid):
                self.db.add(ResourceName(calendar_id=calendar.id, name=name, uid=uid))
        await self.db.flush()
        await bump_version(self.db, calendar)
        try:
            await quota.check_room(self.db, calendar, self.settings)
        except TooManyEvents as exc:
            # RFC 4331's precondition: clients show "quota exceeded" instead of retrying.
            await self.db.rollback()
            raise DavPrecondition(507, DAV, "quota-not-exceeded", str(exc)) from None
        await self.db.commit()
        stored = await self.resources(calendar, [uid])
        return Written(stored[0].etag, current is None)

    def _parse(self, calendar: Calendar, data: bytes) -> list[EventDraft]:
        try:
            # A resource is one series and its moved occurrences: the series' rule gets the budget a REST
            # write gets, and the whole resource twice that.
            parsed = ics.parse(
                data,
                default_tz=calendar.time_zone,
                max_events=MAX_RESOURCE_EVENTS,
                budget=self.budget,
                total_budget=2 * self.budget,
            )
        except ics.IcsError as exc:
            raise DavPrecondition(403, CALDAV, "valid-calendar-data", str(exc)) from None
        if not parsed.events:
            if parsed.skipped:
                raise DavPrecondition(
                    403, CALDAV, "supported-calendar-component", "this server stores VEVENTs only"
                )
            raise DavPrecondition(403, CALDAV, "valid-calendar-object-resource", "the object holds no VEVENT")
        if len({draft.uid for draft in parsed.events}) > 1:
            raise DavPrecondition(
                403, CALDAV, "valid-calendar-object-resource", "one resource holds the events of one UID"
            )
        return parsed.events

    @staticmethod
    def _check_preconditions(
        current: Resource | None, if_match: str | None, if_none_match: str | None
    ) -> None:
        etag = current.etag if current else None
        if if_match is not None and not etag_matches(if_match, etag):
            raise DavPreconditionFailed("If-Match does not name the resource's current ETag")
        if if_none_match is not None and etag_matches(if_none_match, etag):
            raise DavPreconditionFailed("the resource exists (If-None-Match)")

    async def delete(self, calendar: Calendar, resource: Resource, *, if_match: str | None) -> None:
        _check_writable(calendar)
        self._check_preconditions(resource, if_match, None)
        await self.db.execute(
            delete(Event).where(Event.calendar_id == calendar.id, Event.uid == resource.uid)
        )
        await bump_version(self.db, calendar)
        await self.db.commit()

    # ---- queries ---------------------------------------------------------------------------------

    async def query(self, calendar: Calendar, wanted: Filter) -> list[Resource]:
        """The resources a calendar-query's filter selects."""
        if not wanted.events:
            return []
        window = wanted.time_range
        if window is None:
            found = await self.resources(calendar)
        elif window.end - window.start <= timedelta(days=self.settings.calendar_max_range_days):
            # A window the month view could ask for: the same expansion (and its cache) decides.
            present = {o.content.uid for o in await self._occurrences_in(calendar, window)}
            found = await self.resources(calendar, present)
        else:
            candidates = (
                select(Event.uid)
                .where(
                    Event.calendar_id == calendar.id,
                    Event.span_start < window.end,
                    or_(Event.span_end.is_(None), Event.span_end > window.start),
                )
                .distinct()
            )
            uids = list(await self.db.scalars(candidates))
            found = await self._occurring(calendar, await self.resources(calendar, uids), window)
        return [r for r in found if wanted.matches_props(r.master)]

    async def _occurring(
        self, calendar: Calendar, resources: list[Resource], window: TimeRange
    ) -> list[Resource]:
        """The resources with an occurrence in ``window``: on the event loop up to its budget, the rest in
        the expansion threads with a deadline (``timerange.py``)."""
        timings = [_timing(calendar, resource, window, self.limit) for resource in resources]
        keep = await occurring(
            self.occurrences.pages,
            self.settings,
            timings,
            window,
            date_zone=zone(calendar.time_zone),
            limit=self.limit,
        )
        return [resource for resource, kept in zip(resources, keep, strict=True) if kept]

    async def expanded(
        self, calendar: Calendar, resources: Sequence[Resource], window: TimeRange
    ) -> dict[str, bytes]:
        """Each resource's occurrences in ``window`` as expanded iCalendar, by UID."""
        occurrences = await self._occurrences_in(calendar, window)
        wanted = {r.uid: r for r in resources}
        by_uid: dict[str, list[tuple[EventRow, Instance, str | None]]] = defaultdict(list)
        for occurrence in occurrences:
            row = occurrence.content
            if row.uid in wanted:
                by_uid[row.uid].append((row, occurrence.instance, occurrence.key))
        pages = self.occurrences.pages
        found: dict[str, bytes] = {}
        for uid, resource in wanted.items():
            # Writing iCalendar costs more than expanding: after a write to one event, a REPORT writes
            # that resource again and reuses the others'. The resource's ETag changes with any of its
            # rows (each write gives a row a new random ETag); the zone decides all-day occurrences.
            key = ("caldav-expanded", calendar.id, calendar.time_zone, resource.etag, window, self.limit)
            found[uid] = pages.expansion(key, partial(_write_expanded, by_uid[uid], resource))
        return found

    async def _occurrences_in(self, calendar: Calendar, window: TimeRange) -> list[Occurrence]:
        key = (calendar.id, window.start, window.end)
        if key not in self._by_window:
            found, _truncated = await self.occurrences.occurrences([calendar], window.start, window.end)
            self._by_window[key] = found
        return self._by_window[key]

    async def free_busy(self, user_id: uuid.UUID, calendar: Calendar, window: TimeRange) -> FreeBusyOut:
        return await self.occurrences.free_busy(user_id, window.start, window.end, calendar.id)

    # ---- sync-collection (RFC 6578) ---------------------------------------------------------------

    def read_token(self, calendar: Calendar, token: str) -> int:
        """The version a sync token names; a foreign, malformed or future token is invalid."""
        prefix = f"{SYNC_PREFIX}{calendar.id}:"
        version = token.removeprefix(prefix)
        if not token.startswith(prefix) or not version.isdigit() or int(version) > calendar.version:
            raise DavPrecondition(
                403, DAV, "valid-sync-token", "the sync token is not valid for this collection"
            )
        return int(version)

    async def changes(self, calendar: Calendar, since: int | None) -> Changes:
        """Resources changed and removed after version ``since`` (``None``: every resource)."""
        token = sync_token(calendar)
        if since is None:
            return Changes(token, await self.resources(calendar), [])
        uids = list(
            await self.db.scalars(
                select(Change.uid).where(
                    Change.calendar_id == calendar.id,
                    Change.version > since,
                    Change.version <= calendar.version,
                )
            )
        )
        changed = await self.resources(calendar, uids)
        present = {r.uid for r in changed}
        gone = [uid for uid in uids if uid not in present]
        names = await self._names(calendar, gone)
        return Changes(token, changed, sorted(names.get(uid, default_name(uid)) for uid in gone))


def _timing(calendar: Calendar, resource: Resource, window: TimeRange, limit: int) -> Timing:
    master = next((row for row in resource.rows if row.recurrence_id is None), None)
    return Timing(
        key=("caldav-occurs", calendar.id, calendar.time_zone, resource.etag, window, limit),
        master=None if master is None else draft_of(master).series,
        overrides={
            row.recurrence_id: draft_of(row).series for row in resource.rows if row.recurrence_id is not None
        },
        exdates=frozenset(master.exdates) if master is not None else frozenset(),
    )


def _write_expanded(occurrences: list[tuple[EventRow, Instance, str | None]], resource: Resource) -> bytes:
    return ical.expanded(occurrences, ical.stamp_of(resource.rows))


def _check_writable(calendar: Calendar) -> None:
    # 403, not the REST API's 409: devices read 403 as "read-only here" and stop retrying.
    if is_read_only(calendar):
        raise DavForbidden(
            f"the events of this calendar come from its {calendar.source.value} source and are read-only"
        )


def _row_order(row: Event) -> tuple[bool, str]:
    return row.recurrence_id is not None, row.recurrence_id or ""
