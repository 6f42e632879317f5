"""Calendar object resources as iCalendar: one UID's series (master and overrides) written with the calendar
domain's ``ics`` module, its occurrences expanded for ``<C:expand>`` (RFC 4791 9.6.5), and free/busy."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime

from icalendar import Calendar as ICalendar
from icalendar import Event as IEvent
from icalendar import FreeBusy as IFreeBusy
from icalendar import vPeriod

from aiwfe.calendar import ics
from aiwfe.calendar.models import Calendar, Event
from aiwfe.calendar.recurrence import Instance, key_date, key_instant
from aiwfe.calendar.rows import EventRow
from aiwfe.calendar.schemas import FreeBusyOut
from aiwfe.calendar.store import draft_of

PRODID = "-//aiwfe//caldav//EN"
CONTENT_TYPE = "text/calendar; charset=utf-8"


def stamp_of(rows: Iterable[Event]) -> datetime:
    return max((row.updated_at for row in rows), default=datetime(2000, 1, 1, tzinfo=UTC))


def resource(calendar: Calendar, rows: list[Event]) -> bytes:
    """The whole series, as the REST API holds it: a client that PUTs it back changes nothing."""
    return ics.render(calendar.name, calendar.time_zone, [draft_of(row) for row in rows], stamp_of(rows))


def _moment(value: datetime) -> date | datetime:
    return value.date() if value.tzinfo is None else value.astimezone(UTC)


def _key_value(key: str) -> date | datetime:
    return key_date(key) if len(key) == 10 else key_instant(key)


def expanded(rows_by_key: list[tuple[EventRow, Instance, str | None]], stamp: datetime) -> bytes:
    """Each occurrence as its own VEVENT in UTC with a RECURRENCE-ID, no RRULE/RDATE/EXDATE, no VTIMEZONE."""
    calendar = ICalendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    for row, instance, key in rows_by_key:
        event = IEvent()
        event.add("UID", row.uid)
        event.add("DTSTAMP", stamp)
        event.add("DTSTART", _moment(instance.start))
        event.add("DTEND", _moment(instance.end))
        if key is not None:
            event.add("RECURRENCE-ID", _key_value(key))
        ics.add_details(event, row)
        calendar.add_component(event)
    return bytes(calendar.to_ical())


def free_busy(found: FreeBusyOut, stamp: datetime) -> bytes:
    """A VFREEBUSY of the busy periods (RFC 4791 7.10), in UTC."""
    calendar = ICalendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    busy = IFreeBusy()
    busy.add("DTSTAMP", stamp)
    busy.add("DTSTART", found.start)
    busy.add("DTEND", found.end)
    for period in found.busy:
        busy.add("FREEBUSY", vPeriod((period.start, period.end)))
    calendar.add_component(busy)
    return bytes(calendar.to_ical())
