"""Time zones by name and occurrence keys (a timed occurrence's UTC instant, an all-day one's date)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiwfe.calendar.recurrence.budget import RecurrenceError

_KEY_INSTANT = "%Y-%m-%dT%H:%M:%SZ"


@lru_cache(maxsize=512)
def zone(tzid: str, field: str = "time_zone") -> ZoneInfo:
    """The IANA zone named ``tzid``; anything else is a :class:`RecurrenceError`."""
    try:
        return ZoneInfo(tzid)
    except (ZoneInfoNotFoundError, ValueError):
        raise RecurrenceError(field, f"unknown time zone {tzid!r}") from None


def is_zone(tzid: str) -> bool:
    try:
        zone(tzid)
    except RecurrenceError:
        return False
    return True


def instant_key(moment: datetime) -> str:
    """The key of a timed occurrence: its UTC instant."""
    return moment.astimezone(UTC).strftime(_KEY_INSTANT)


def local_key(wall: datetime, tz: ZoneInfo | None) -> str:
    """The key of an occurrence starting at wall-clock ``wall`` in ``tz`` (``None`` = all-day)."""
    if tz is None:
        return wall.date().isoformat()
    return instant_key(wall.replace(tzinfo=tz))


def key_instant(key: str) -> datetime:
    return datetime.strptime(key, _KEY_INSTANT).replace(tzinfo=UTC)


def key_date(key: str) -> date:
    return date.fromisoformat(key)


def parse_key(value: str, *, tz: ZoneInfo | None, field: str) -> str:
    """Read an occurrence given as an ISO date (all-day) or date-time and return its canonical key.

    A date-time without an offset is wall clock in the event's zone ``tz``.
    """
    text = value.strip()
    if tz is None:
        try:
            return date.fromisoformat(text[:10] if len(text) > 10 and text[10] == "T" else text).isoformat()
        except ValueError:
            raise RecurrenceError(field, f"{value!r} is not a date (YYYY-MM-DD)") from None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise RecurrenceError(field, f"{value!r} is not an ISO 8601 date-time") from None
    if len(text) <= 10:
        raise RecurrenceError(field, f"{value!r} is a date, but the event has a time")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return instant_key(moment)


def key_to_wall(key: str, tz: ZoneInfo | None) -> datetime:
    """The wall-clock start (naive) that ``key`` names for an event in ``tz``."""
    if tz is None:
        return datetime.combine(key_date(key), time())
    return key_instant(key).astimezone(tz).replace(tzinfo=None)
