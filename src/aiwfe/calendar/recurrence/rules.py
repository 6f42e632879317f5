"""RRULE values: validation into canonical form, building dateutil rules, moving DTSTART near a window."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from dateutil.rrule import rrule, rrulestr

from aiwfe.calendar.recurrence.budget import (
    DEFAULT_BUDGET,
    Budget,
    BudgetExceeded,
    RecurrenceError,
    as_budget,
    walk,
)

FREQUENCIES = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY")
_PART = re.compile(r"^[A-Z]+=[A-Z0-9,+\-]+$")


def _parts(rule: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for part in rule.split(";"):
        if not _PART.match(part):
            raise RecurrenceError("rrule", f"{part!r} is not NAME=VALUE")
        name, _, value = part.partition("=")
        if name in parts:
            raise RecurrenceError("rrule", f"{name} appears twice")
        parts[name] = value
    return parts


def _read_until(value: str, *, tz: ZoneInfo | None) -> str:
    """UNTIL as a date for all-day rules and a UTC date-time otherwise, whatever form it came in."""
    try:
        if "T" in value:
            moment = datetime.strptime(value.rstrip("Z"), "%Y%m%dT%H%M%S")
            if value.endswith("Z"):
                moment = moment.replace(tzinfo=UTC)
        else:
            moment = datetime.strptime(value, "%Y%m%d")
    except ValueError:
        raise RecurrenceError("rrule", f"UNTIL={value} is not a date or date-time") from None
    if tz is None:
        day = moment.astimezone(UTC).date() if moment.tzinfo else moment.date()
        return day.strftime("%Y%m%d")
    if moment.tzinfo is None:
        if "T" not in value:
            # A bare date on a timed series: the whole of that day still counts.
            moment = moment.replace(hour=23, minute=59, second=59)
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def normalize_rrule(
    value: str, *, dtstart: datetime, tz: ZoneInfo | None, budget: int | Budget = DEFAULT_BUDGET
) -> str:
    """Validate an RRULE value and return it in canonical form (upper case, UNTIL in UTC or as a date).

    Sub-hourly rules (SECONDLY, MINUTELY) are refused: no calendar needs them and they are the
    classic way to make a server expand millions of occurrences. Finding that the rule occurs at
    all is charged to ``budget``.
    """
    text = value.strip().upper()
    if text.startswith("RRULE:"):
        text = text[len("RRULE:") :]
    if not text:
        raise RecurrenceError("rrule", "is empty")
    parts = _parts(text)
    freq = parts.get("FREQ")
    if freq is None:
        raise RecurrenceError("rrule", "FREQ is required")
    if freq in ("SECONDLY", "MINUTELY"):
        raise RecurrenceError("rrule", f"FREQ={freq} is not supported (the shortest is HOURLY)")
    if freq not in FREQUENCIES:
        raise RecurrenceError("rrule", f"FREQ={freq} is not a frequency")
    if "COUNT" in parts and "UNTIL" in parts:
        raise RecurrenceError("rrule", "COUNT and UNTIL cannot both be given")
    for name in ("COUNT", "INTERVAL"):
        if name in parts and not (parts[name].isdigit() and 1 <= int(parts[name]) <= 1_000_000):
            raise RecurrenceError("rrule", f"{name} must be a whole number from 1 to 1000000")
    if "UNTIL" in parts:
        parts["UNTIL"] = _read_until(parts["UNTIL"], tz=tz)
    _check_by_parts(parts)
    canonical = ";".join(f"{name}={parts[name]}" for name in ["FREQ", *(n for n in parts if n != "FREQ")])
    try:
        build_rule(canonical, dtstart, tz)
        never = _never_occurs(canonical, dtstart, tz, as_budget(budget))
    except RecurrenceError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise RecurrenceError("rrule", f"not a valid recurrence rule ({exc})") from None
    if never:
        raise RecurrenceError("rrule", "the rule never produces an occurrence")
    return canonical


_BY_RANGES = {
    "BYMONTH": (1, 12),
    "BYMONTHDAY": (1, 31),
    "BYYEARDAY": (1, 366),
    "BYWEEKNO": (1, 53),
    "BYSETPOS": (1, 366),
    "BYHOUR": (0, 23),
    "BYMINUTE": (0, 59),
    "BYSECOND": (0, 59),
}
_SIGNED = {"BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYSETPOS"}
# BYMINUTE/BYSECOND lists would make an hourly rule secondly again.
_MAX_VALUES = {"BYMINUTE": 4, "BYSECOND": 1}
_KNOWN = {"FREQ", "UNTIL", "COUNT", "INTERVAL", "BYDAY", "WKST", *_BY_RANGES}


def _check_by_parts(parts: dict[str, str]) -> None:
    for name, value in parts.items():
        if name not in _KNOWN:
            raise RecurrenceError("rrule", f"{name} is not a rule part")
        if name not in _BY_RANGES:
            continue
        low, high = _BY_RANGES[name]
        items = value.split(",")
        if len(items) > _MAX_VALUES.get(name, 366):
            raise RecurrenceError("rrule", f"{name} has too many values")
        for item in items:
            number = item.lstrip("+-") if name in _SIGNED else item
            if not number.isdigit() or not low <= int(number) <= high:
                raise RecurrenceError("rrule", f"{name}={item} is out of range {low}..{high}")


# The Gregorian calendar repeats every 400 years: a rule with no occurrence in the last 400 years
# that dates can express has none at all, and dateutil would scan to year 9999 looking for one.
_PROBE_FROM = datetime(9999 - 400, 1, 1)


def _never_occurs(canonical: str, dtstart: datetime, tz: ZoneInfo | None, budget: Budget) -> bool:
    unbounded = ";".join(part for part in canonical.split(";") if not part.startswith(("COUNT=", "UNTIL=")))
    probe_start = shifted_start(unbounded, dtstart, _PROBE_FROM)
    if probe_start < _PROBE_FROM - timedelta(days=800):
        return False  # could not move DTSTART near the end of time; the real scan stays budgeted
    rule = build_rule(unbounded, probe_start, None if tz is None else UTC)
    try:
        return next(walk(rule, budget), None) is None
    except BudgetExceeded:
        if not budget.exhausted:
            raise  # a larger budget (the whole import) ran out, and says so
        raise BudgetExceeded(
            "rrule", f"the rule matches so rarely that no occurrence was found in {budget.limit} steps"
        ) from None


def build_rule(canonical: str, dtstart: datetime, tz: tzinfo | None) -> rrule:
    """A dateutil rule over wall-clock times in ``tz`` (naive dates for all-day series)."""
    start = dtstart if tz is None else dtstart.replace(tzinfo=tz)
    built = rrulestr(canonical, dtstart=start, cache=False)
    if not isinstance(built, rrule):
        raise RecurrenceError("rrule", "give one rule")
    return built


def rule_value(canonical: str, name: str) -> str | None:
    for part in canonical.split(";"):
        key, _, value = part.partition("=")
        if key == name:
            return value
    return None


def shifted_start(canonical: str, dtstart: datetime, target: datetime) -> datetime:
    """A later DTSTART that yields the same occurrences from ``target`` (wall clock, naive) on.

    Moving DTSTART by whole periods of the rule (INTERVAL x FREQ) keeps the pattern, as long as
    the fields dateutil derives from DTSTART (day of month, month, weekday, time) stay the same;
    COUNT counts from the first occurrence, so a counted rule is never moved. This keeps the scan
    proportional to the window instead of to the series' age.
    """
    if rule_value(canonical, "COUNT") is not None or target <= dtstart:
        return dtstart
    freq = rule_value(canonical, "FREQ")
    interval = int(rule_value(canonical, "INTERVAL") or "1")
    if freq == "HOURLY":
        steps = int((target - dtstart).total_seconds() // 3600) // interval - 1
        return dtstart + timedelta(hours=steps * interval) if steps > 0 else dtstart
    if freq in ("DAILY", "WEEKLY"):
        days = 7 * interval if freq == "WEEKLY" else interval
        steps = (target - dtstart).days // days - 1
        return dtstart + timedelta(days=steps * days) if steps > 0 else dtstart
    months = (target.year - dtstart.year) * 12 + target.month - dtstart.month
    unit = 12 * interval if freq == "YEARLY" else interval
    steps = months // unit - 1
    while steps > 0:
        moved = dtstart + relativedelta(months=steps * unit)
        if (moved.month, moved.day) == (dtstart.month, dtstart.day) or (
            freq == "MONTHLY" and moved.day == dtstart.day
        ):
            return moved
        steps -= 1
    return dtstart
