"""iCalendar (RFC 5545) files: read an .ics into checked event drafts, and write drafts back as .ics.

Reading keeps UID, TZID (IANA names, Windows names mapped; a custom VTIMEZONE keeps the instants and
is read in the calendar's zone), RRULE/RDATE/EXDATE and RECURRENCE-ID overrides. Hostile files are
refused before icalendar builds anything big: size, nesting depth and event count are checked first
(on unfolded lines, as icalendar will read them), the count again after parsing, and every rule's
expansion is bounded by a per-rule and a per-file budget of iterations.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from icalendar import Calendar as ICalendar
from icalendar import Component, vRecur
from icalendar import Event as IEvent
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from aiwfe.calendar.draft import EventDraft, checked
from aiwfe.calendar.models import EventStatus, Transparency
from aiwfe.calendar.recurrence import (
    DEFAULT_BUDGET,
    Budget,
    RecurrenceError,
    instant_key,
    is_zone,
    key_date,
    key_instant,
    zone,
)
from aiwfe.calendar.vtimezone import first_year, vtimezone

PRODID = "-//aiwfe//calendar//EN"
MAX_DEPTH = 4
# Names are case-insensitive and may carry parameters (icalendar reads "begin;x=1:vevent" as a VEVENT).
_BEGIN = re.compile(rb"^BEGIN(?:;[^:]*)?:([A-Za-z0-9-]+)\s*$", re.IGNORECASE)
_END = re.compile(rb"^END(?:;[^:]*)?:([A-Za-z0-9-]+)\s*$", re.IGNORECASE)
# RFC 5545 3.1: a line break followed by a space or tab continues the line (icalendar also skips blank
# lines between). icalendar unfolds before it reads, so the pre-scan must too, or "BEGIN:VEV" + " ENT"
# slips past the event count.
_FOLD = re.compile(rb"\r?\n(?:\r?\n)*[ \t]")
# Rule iterations one whole file may spend (settings.calendar_import_recurrence_budget).
DEFAULT_FILE_BUDGET = 2_000_000


class IcsError(ValueError):
    """The file cannot be imported; the message says where and why."""


@dataclass
class ParsedCalendar:
    events: list[EventDraft]
    name: str | None
    skipped: int


def _prescan(data: bytes, max_events: int) -> None:
    """Refuse what would be expensive to parse: wrong type, deep nesting, too many events."""
    depth = events = 0
    seen_calendar = False
    for number, raw in enumerate(_FOLD.sub(b"", data).splitlines(), start=1):
        begin = _BEGIN.match(raw)
        if begin:
            name = begin.group(1).upper()
            if depth == 0 and name != b"VCALENDAR":
                raise IcsError(f"line {number}: expected BEGIN:VCALENDAR, found BEGIN:{name.decode()}")
            seen_calendar = True
            depth += 1
            if depth > MAX_DEPTH:
                raise IcsError(f"line {number}: components are nested deeper than {MAX_DEPTH} levels")
            if name == b"VEVENT":
                events += 1
                if events > max_events:
                    raise IcsError(f"the file has more than {max_events} events")
        elif _END.match(raw):
            depth -= 1
            if depth < 0:
                raise IcsError(f"line {number}: END without a matching BEGIN")
    if not seen_calendar:
        raise IcsError("not an iCalendar file (no BEGIN:VCALENDAR)")
    if depth != 0:
        raise IcsError("the file ends inside a component (missing END)")


def parse(
    data: bytes,
    *,
    default_tz: str,
    max_events: int,
    budget: int = DEFAULT_BUDGET,
    total_budget: int = DEFAULT_FILE_BUDGET,
) -> ParsedCalendar:
    """Every VEVENT of an .ics as a checked draft; raises :class:`IcsError` naming the problem.

    Each rule may spend ``budget`` iterations of expansion, all of them together ``total_budget``.
    """
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IcsError(f"the file is not UTF-8 text (byte {exc.start})") from None
    _prescan(data, max_events)
    try:
        calendars = ICalendar.from_ical(data, multiple=True)
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise IcsError(f"not a valid iCalendar file: {exc}") from None
    found = sum(1 for calendar in calendars for c in calendar.subcomponents if c.name == "VEVENT")
    if found > max_events:
        raise IcsError(f"the file has more than {max_events} events")
    file_budget = Budget(total_budget, what="the file's recurrence rules together")
    drafts: list[EventDraft] = []
    skipped = 0
    name: str | None = None
    for calendar in calendars:
        name = name or (str(calendar["X-WR-CALNAME"]) if "X-WR-CALNAME" in calendar else None)
        for component in calendar.subcomponents:
            if component.name == "VTIMEZONE":
                continue
            if component.name != "VEVENT":
                skipped += 1
                continue
            drafts.append(_event(component, default_tz, file_budget.child(budget)))
    _check_unique(drafts)
    return ParsedCalendar(drafts, name, skipped)


def _check_unique(drafts: list[EventDraft]) -> None:
    seen: set[tuple[str, str | None]] = set()
    for draft in drafts:
        key = (draft.uid, draft.recurrence_id)
        if key in seen:
            what = f" occurrence {draft.recurrence_id}" if draft.recurrence_id else ""
            raise IcsError(f"event {draft.uid!r}{what} appears twice")
        seen.add(key)


def _event(component: Component, default_tz: str, budget: Budget) -> EventDraft:
    uid = str(component.get("UID", "")).strip()
    where = f"event {uid!r}" if uid else "an event without UID"
    try:
        return _read_event(component, uid, default_tz, budget)
    except RecurrenceError as exc:
        raise IcsError(f"{where}: {exc.field}: {exc.message}") from None
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        raise IcsError(f"{where}: cannot be read ({exc})") from None


def _zone_of(moment: datetime, tzid_param: str | None, default_tz: str) -> str:
    info = moment.tzinfo
    if isinstance(info, ZoneInfo) and is_zone(info.key):
        return info.key
    if tzid_param:
        if is_zone(tzid_param):
            return tzid_param
        mapped = WINDOWS_TO_OLSON.get(tzid_param)
        if mapped and is_zone(mapped):
            return mapped
    # A zone defined only by its VTIMEZONE: keep the instants, read them in the calendar's zone.
    return default_tz


def _wall(value: date | datetime, tz: ZoneInfo | None, field: str) -> datetime:
    """A DATE or DATE-TIME as wall clock of the event (``tz`` None = all-day)."""
    if tz is None:
        if isinstance(value, datetime):
            raise RecurrenceError(field, "has a time, but the event is all-day")
        return datetime.combine(value, time())
    if not isinstance(value, datetime):
        raise RecurrenceError(field, "is a date, but the event has a time")
    if value.tzinfo is None:
        return value
    return value.astimezone(tz).replace(tzinfo=None)


def _key(value: Any, tz: ZoneInfo | None, dtstart: datetime, field: str) -> str:
    """An RDATE/EXDATE/RECURRENCE-ID value as the key of the occurrence it names."""
    if isinstance(value, tuple):  # a PERIOD: the occurrence is named by its start
        value = value[0]
    if tz is None:
        if isinstance(value, datetime):
            return value.date().isoformat()
        if isinstance(value, date):
            return value.isoformat()
        raise RecurrenceError(field, f"{value!r} is not a date")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=tz)
        return instant_key(value)
    if isinstance(value, date):
        # A date on a timed series names the occurrence of that day.
        return instant_key(datetime.combine(value, dtstart.time()).replace(tzinfo=tz))
    raise RecurrenceError(field, f"{value!r} is not a date-time")


def _prop(component: Component, name: str) -> Any:
    """A property as icalendar parsed it (its type depends on the property)."""
    return component.get(name)


def _values(component: Component, name: str) -> list[Any]:
    prop = _prop(component, name)
    if prop is None:
        return []
    props = prop if isinstance(prop, list) else [prop]
    values: list[Any] = []
    for item in props:
        values.extend(entry.dt for entry in item.dts)
    return values


def _read_event(component: Component, uid: str, default_tz: str, budget: Budget) -> EventDraft:
    if "DTSTART" not in component:
        raise RecurrenceError("DTSTART", "is missing")
    start_prop = _prop(component, "DTSTART")
    start = start_prop.dt
    tzid_param = start_prop.params.get("TZID")
    tzid: str | None
    if isinstance(start, datetime):
        if start.tzinfo is None and tzid_param:
            raise RecurrenceError("DTSTART", f"unknown time zone {tzid_param!r}")
        tzid = _zone_of(start, tzid_param, default_tz) if start.tzinfo else default_tz
    elif isinstance(start, date):
        tzid = None
    else:
        raise RecurrenceError("DTSTART", "is not a date or date-time")
    tz = None if tzid is None else zone(tzid, "DTSTART")
    dtstart = _wall(start, tz, "DTSTART")

    if "DTEND" in component:
        dtend = _wall(_prop(component, "DTEND").dt, tz, "DTEND")
    elif "DURATION" in component:
        duration = _prop(component, "DURATION").dt
        if not isinstance(duration, timedelta):
            raise RecurrenceError("DURATION", "is not a duration")
        if tz is None:
            dtend = dtstart + timedelta(days=max(duration.days, 1))
        else:
            end = dtstart.replace(tzinfo=tz).astimezone(UTC) + duration
            dtend = end.astimezone(tz).replace(tzinfo=None)
    else:
        dtend = dtstart + timedelta(days=1) if tz is None else dtstart

    rules = _prop(component, "RRULE")
    if isinstance(rules, list):
        if len(rules) > 1:
            raise RecurrenceError("RRULE", "more than one RRULE is not supported")
        rules = rules[0] if rules else None
    rrule = rules.to_ical().decode() if rules is not None else None

    recurrence_id = None
    if "RECURRENCE-ID" in component:
        recurrence_id = _key(_prop(component, "RECURRENCE-ID").dt, tz, dtstart, "RECURRENCE-ID")

    status_text = str(component.get("STATUS", "CONFIRMED")).strip().lower()
    status = EventStatus(status_text) if status_text in set(EventStatus) else EventStatus.CONFIRMED
    transp = str(component.get("TRANSP", "OPAQUE")).strip().lower()
    try:
        sequence = int(str(component.get("SEQUENCE", 0)))
    except ValueError:
        raise RecurrenceError("SEQUENCE", "is not a number") from None

    draft = EventDraft(
        dtstart=dtstart,
        dtend=dtend,
        tzid=tzid,
        uid=uid or f"{uuid.uuid4()}@aiwfe",
        recurrence_id=recurrence_id,
        summary=str(component.get("SUMMARY", "")),
        description=str(component.get("DESCRIPTION", "")),
        location=str(component.get("LOCATION", "")),
        status=status,
        transparency=Transparency.TRANSPARENT if transp == "transparent" else Transparency.OPAQUE,
        sequence=sequence,
    )
    try:
        return checked(
            draft,
            rrule=rrule or "",
            rdates=[_key(v, tz, dtstart, "RDATE") for v in _values(component, "RDATE")],
            exdates=[_key(v, tz, dtstart, "EXDATE") for v in _values(component, "EXDATE")],
            budget=budget,
        )
    except RecurrenceError as exc:
        names = {"rrule": "RRULE", "rdates": "RDATE", "exdates": "EXDATE", "start": "DTSTART", "end": "DTEND"}
        raise RecurrenceError(names.get(exc.field, exc.field.upper()), exc.message) from None


# ---- writing ---------------------------------------------------------------------------------------


def _moment(wall: datetime, tz: ZoneInfo | None) -> date | datetime:
    return wall.date() if tz is None else wall.replace(tzinfo=tz)


def _key_value(key: str, tz: ZoneInfo | None) -> date | datetime:
    # Timed RDATE/EXDATE values are written in UTC: in local time, an instant in the repeated hour at
    # the end of DST would be ambiguous and could come back as the other occurrence.
    return key_date(key) if tz is None else key_instant(key)


class Details(Protocol):
    """What a VEVENT says besides its times: a draft and a stored row both have it."""

    @property
    def summary(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def location(self) -> str: ...
    @property
    def status(self) -> EventStatus: ...
    @property
    def transparency(self) -> Transparency: ...
    @property
    def sequence(self) -> int: ...


def add_details(event: Component, source: Details) -> None:
    """SUMMARY, DESCRIPTION and LOCATION (when set), STATUS, TRANSP and SEQUENCE of ``source``."""
    for prop, value in (
        ("SUMMARY", source.summary),
        ("DESCRIPTION", source.description),
        ("LOCATION", source.location),
    ):
        if value:
            event.add(prop, value)
    event.add("STATUS", source.status.value.upper())
    event.add("TRANSP", source.transparency.value.upper())
    event.add("SEQUENCE", source.sequence)


def render(name: str, time_zone: str, events: Iterable[EventDraft], stamp: datetime) -> bytes:
    """An .ics holding ``events`` (series masters before their overrides) with their VTIMEZONEs."""
    calendar = ICalendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    calendar.add("CALSCALE", "GREGORIAN")
    calendar.add("X-WR-CALNAME", name)
    calendar.add("X-WR-TIMEZONE", time_zone)
    years: dict[str, int] = {}
    for draft in sorted(events, key=lambda d: (d.uid, d.recurrence_id is not None, d.recurrence_id or "")):
        tz = None if draft.tzid is None else zone(draft.tzid)
        if draft.tzid is not None:
            years[draft.tzid] = min(years.get(draft.tzid, 9999), first_year(draft.dtstart.date()))
        event = IEvent()
        event.add("UID", draft.uid)
        event.add("DTSTAMP", stamp.astimezone(UTC))
        event.add("DTSTART", _moment(draft.dtstart, tz))
        event.add("DTEND", _moment(draft.dtend, tz))
        if draft.recurrence_id is not None:
            rid = key_date(draft.recurrence_id) if len(draft.recurrence_id) == 10 else None
            event.add("RECURRENCE-ID", rid if rid is not None else key_instant(draft.recurrence_id))
        if draft.rrule:
            event.add("RRULE", vRecur.from_ical(draft.rrule))
        if draft.rdates:
            event.add("RDATE", [_key_value(key, tz) for key in draft.rdates])
        if draft.exdates:
            event.add("EXDATE", [_key_value(key, tz) for key in draft.exdates])
        add_details(event, draft)
        calendar.add_component(event)
    # VTIMEZONEs go first and in the yearly-RRULE form (see vtimezone.py), from the earliest year used.
    # Only TZIDs the output names: UTC times are written with "Z" and need none.
    for tzid in sorted(calendar.get_missing_tzids(), reverse=True):
        calendar.subcomponents.insert(0, vtimezone(tzid, years.get(tzid, 1970)))
    return bytes(calendar.to_ical())
