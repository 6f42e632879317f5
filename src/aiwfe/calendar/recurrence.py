"""Recurrence: occurrence keys, RRULE validation and expanding a series into its occurrences in a window.

Times follow RFC 5545: a timed series repeats at the same wall-clock time in its TZID (so 09:00 stays
09:00 across a DST change), a wall-clock time that does not exist (skipped by DST) means the same
time before the gap (02:30 on a spring-forward day is 03:30 summer time), an ambiguous one means its
first occurrence, and every occurrence lasts the exact duration of the first. All-day series repeat
by date and last whole days. DTSTART is always the first occurrence; RDATEs add, EXDATEs remove.
"""

from __future__ import annotations

import re
import types
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dateutil.rrule
from dateutil.relativedelta import relativedelta
from dateutil.rrule import rrule, rrulestr

FREQUENCIES = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY")
# Each occurrence the scan passes before the window costs time too; a series may scan this many
# times its instance limit before it is cut off.
SCAN_FACTOR = 10
# Rule iterations one check of a series may spend (settings.calendar_recurrence_budget): about
# 1-2 microseconds each, so checking and storing a series stays well under 50 ms of CPU.
DEFAULT_BUDGET = 10_000
_KEY_INSTANT = "%Y-%m-%dT%H:%M:%SZ"
_PART = re.compile(r"^[A-Z]+=[A-Z0-9,+\-]+$")
# Padding that makes an all-day event's bounds hold whatever zone its dates are read in.
_DATE_PAD = timedelta(days=1)


class RecurrenceError(ValueError):
    """A rule, a time zone or an occurrence that cannot be used; ``field`` names the input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class BudgetExceeded(RecurrenceError):
    """Expanding a rule needed more iterations than its :class:`Budget` allows."""


class Budget:
    """Rule iterations a piece of work may spend, optionally inside a larger one (a whole import).

    dateutil examines one period (a day for DAILY and HOURLY rules, a week, a month, a year) per
    iteration and may pass thousands of them for each occurrence it yields (``BYMONTH=2;BYMONTHDAY=29``
    on a daily rule), so counting yielded occurrences alone bounds nothing; :func:`walk` charges both.
    """

    def __init__(self, limit: int, *, parent: Budget | None = None, what: str = "the rule") -> None:
        self.limit = limit
        self.parent = parent
        self.what = what
        self.spent = 0

    def child(self, limit: int, what: str = "the rule") -> Budget:
        return Budget(limit, parent=self, what=what)

    @property
    def exhausted(self) -> bool:
        return self.spent > self.limit

    def spend(self, steps: int = 1) -> None:
        self.spent += steps
        if self.spent > self.limit:
            raise BudgetExceeded(
                "rrule", f"{self.what} would take more than {self.limit} steps of recurrence expansion"
            )
        if self.parent is not None:
            self.parent.spend(steps)


def as_budget(budget: int | Budget) -> Budget:
    return budget if isinstance(budget, Budget) else Budget(budget)


class _CountingInfo(dateutil.rrule._iterinfo):
    """dateutil's per-iteration helper, charging each period it computes to the rule's budget."""

    def __init__(self, rule: rrule) -> None:
        super().__init__(rule)
        self._budget: Budget = rule._aiwfe_budget  # type: ignore[attr-defined]

    def ydayset(self, *args: Any) -> Any:
        self._budget.spend()
        return super().ydayset(*args)

    def mdayset(self, *args: Any) -> Any:
        self._budget.spend()
        return super().mdayset(*args)

    def wdayset(self, *args: Any) -> Any:
        self._budget.spend()
        return super().wdayset(*args)

    def ddayset(self, *args: Any) -> Any:
        self._budget.spend()
        return super().ddayset(*args)


# dateutil's own iteration, run with the counting helper in place of its ``_iterinfo``: the same
# code (no copy to keep in step), and no change to dateutil for anyone else in the process.
_dateutil_iter: types.FunctionType = getattr(rrule, "_iter")  # noqa: B009 (private, untyped)
_counted_iter = types.FunctionType(
    _dateutil_iter.__code__,
    {**vars(dateutil.rrule), "_iterinfo": _CountingInfo},
    "_counted_iter",
    _dateutil_iter.__defaults__,
    _dateutil_iter.__closure__,
)


def walk(rule: rrule, budget: Budget) -> Iterator[datetime]:
    """The occurrences of ``rule``, each dateutil iteration and each occurrence charged to ``budget``;
    raises :class:`BudgetExceeded` when it runs out."""
    rule._aiwfe_budget = budget  # type: ignore[attr-defined]
    for occurrence in _counted_iter(rule):
        budget.spend()
        yield occurrence


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


# ---- occurrence keys ------------------------------------------------------------------------------


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


# ---- rules ----------------------------------------------------------------------------------------


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
    probe_start = _shifted_start(unbounded, dtstart, _PROBE_FROM)
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


def _rule_value(canonical: str, name: str) -> str | None:
    for part in canonical.split(";"):
        key, _, value = part.partition("=")
        if key == name:
            return value
    return None


def _shifted_start(canonical: str, dtstart: datetime, target: datetime) -> datetime:
    """A later DTSTART that yields the same occurrences from ``target`` (wall clock, naive) on.

    Moving DTSTART by whole periods of the rule (INTERVAL x FREQ) keeps the pattern, as long as
    the fields dateutil derives from DTSTART (day of month, month, weekday, time) stay the same;
    COUNT counts from the first occurrence, so a counted rule is never moved. This keeps the scan
    proportional to the window instead of to the series' age.
    """
    if _rule_value(canonical, "COUNT") is not None or target <= dtstart:
        return dtstart
    freq = _rule_value(canonical, "FREQ")
    interval = int(_rule_value(canonical, "INTERVAL") or "1")
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


# ---- expansion ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """The timing of one event: wall-clock start and end in ``tzid`` (``None`` = all-day)."""

    dtstart: datetime
    dtend: datetime
    tzid: str | None = None
    rrule: str | None = None
    rdates: Sequence[str] = ()
    exdates: Collection[str] = ()

    @property
    def tz(self) -> ZoneInfo | None:
        return None if self.tzid is None else zone(self.tzid)

    @property
    def duration(self) -> timedelta:
        """Nominal days for all-day series, the exact elapsed time otherwise."""
        tz = self.tz
        if tz is None:
            return self.dtend - self.dtstart
        return self.dtend.replace(tzinfo=tz).astimezone(UTC) - self.dtstart.replace(tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class Instance:
    """One occurrence: aware start/end in the event's zone, or naive midnights for all-day ones."""

    key: str
    start: datetime
    end: datetime

    @property
    def all_day(self) -> bool:
        return self.start.tzinfo is None

    def bounds(self, date_zone: tzinfo) -> tuple[datetime, datetime]:
        """Start and end as UTC instants; all-day dates are read in ``date_zone``."""
        if self.all_day:
            return (
                self.start.replace(tzinfo=date_zone).astimezone(UTC),
                self.end.replace(tzinfo=date_zone).astimezone(UTC),
            )
        return self.start.astimezone(UTC), self.end.astimezone(UTC)


@dataclass
class Expansion:
    instances: list[Instance]
    truncated: bool = False


def overlaps(start: datetime, end: datetime, window_start: datetime, window_end: datetime) -> bool:
    """Half-open overlap; an instant event (start == end) counts where it starts."""
    return start < window_end and (end > window_start or start >= window_start)


def _instance(series: Series, wall_start: datetime, tz: ZoneInfo | None, duration: timedelta) -> Instance:
    if tz is None:
        return Instance(local_key(wall_start, None), wall_start, wall_start + duration)
    start = wall_start.replace(tzinfo=tz).astimezone(UTC)
    return Instance(instant_key(start), start.astimezone(tz), (start + duration).astimezone(tz))


def _rule_starts(
    series: Series, tz: ZoneInfo | None, lower_wall: datetime, upper_wall: datetime, budget: Budget
) -> Iterator[datetime | None]:
    """Wall-clock starts of the rule's occurrences from about ``lower_wall`` to ``upper_wall``.

    Yields ``None`` once if the scan budget runs out.
    """
    if not series.rrule:
        return
    begin = _shifted_start(series.rrule, series.dtstart, lower_wall - timedelta(days=1))
    rule = build_rule(series.rrule, begin, tz)
    try:
        for occurrence in walk(rule, budget):
            wall = occurrence.replace(tzinfo=None)
            if wall > upper_wall:
                return
            yield wall
    except BudgetExceeded:
        yield None


def expand(
    series: Series,
    window_start: datetime,
    window_end: datetime,
    *,
    date_zone: tzinfo,
    limit: int,
    budget: int | Budget | None = None,
) -> Expansion:
    """The occurrences of ``series`` that overlap ``[window_start, window_end)`` (aware), in order.

    At most ``limit`` occurrences are returned, and at most ``budget`` rule iterations (default
    ``SCAN_FACTOR * limit``) are spent; either cut sets ``truncated``.
    """
    scan = as_budget(SCAN_FACTOR * limit if budget is None else budget)
    tz = series.tz
    duration = series.duration
    if tz is None:
        lo = window_start.astimezone(date_zone).replace(tzinfo=None)
        hi = window_end.astimezone(date_zone).replace(tzinfo=None)
        lower_wall, upper_wall = lo - duration, hi
    else:
        lo, hi = window_start.astimezone(UTC), window_end.astimezone(UTC)
        # Wall clock differs from UTC by at most a day: a margin that keeps every candidate.
        lower_wall = (lo - duration).astimezone(tz).replace(tzinfo=None) - timedelta(days=1)
        upper_wall = hi.astimezone(tz).replace(tzinfo=None) + timedelta(days=1)

    exdates = set(series.exdates)
    found: dict[str, Instance] = {}
    truncated = False

    def consider(instance: Instance) -> None:
        if instance.key in exdates or instance.key in found:
            return
        if overlaps(instance.start, instance.end, lo, hi):
            found[instance.key] = instance

    consider(_instance(series, series.dtstart, tz, duration))
    for key in series.rdates:
        consider(_instance(series, key_to_wall(key, tz), tz, duration))
    for wall in _rule_starts(series, tz, lower_wall, upper_wall, scan):
        if wall is None:
            truncated = True
            break
        if wall < lower_wall:
            continue
        consider(_instance(series, wall, tz, duration))
        if len(found) > limit:
            truncated = True
            break
    instances = sorted(found.values(), key=lambda i: (i.start.astimezone(UTC) if tz else i.start, i.key))
    if len(instances) > limit:
        instances, truncated = instances[:limit], True
    return Expansion(instances, truncated)


def span(series: Series, *, budget: int | Budget = DEFAULT_BUDGET) -> tuple[datetime, datetime | None]:
    """UTC bounds that hold every occurrence (``None`` = no end), padded for all-day dates.

    A COUNT rule is expanded to its last occurrence within ``budget``; one that needs more is a
    :class:`BudgetExceeded` (its end is too far to find cheaply, and so would be every later read).
    """
    if isinstance(budget, Budget):
        return _span(series, budget)
    try:
        bounds, _ = _cached_span(series, budget)
    except TypeError:  # dates given as lists: not hashable, so not cached
        return _span(series, Budget(budget))
    return bounds


def check_span(series: Series, budget: Budget) -> None:
    """Find the span of ``series`` (refused like :func:`span`), charged to ``budget``, and keep it
    for the write that follows."""
    try:
        _, spent = _cached_span(series, budget.limit)
    except BudgetExceeded:
        budget.spent = max(budget.spent, budget.limit + 1)  # the work was done, if not cached
        raise
    budget.spend(spent)


@lru_cache(maxsize=4096)
def _cached_span(series: Series, budget: int) -> tuple[tuple[datetime, datetime | None], int]:
    # Checking a draft and then storing it ask for the same span: the second time is free.
    counted = Budget(budget)
    return _span(series, counted), counted.spent


def _span(series: Series, budget: Budget) -> tuple[datetime, datetime | None]:
    tz = series.tz
    duration = series.duration

    def instant(wall: datetime) -> datetime:
        if tz is None:
            return wall.replace(tzinfo=UTC)
        return wall.replace(tzinfo=tz).astimezone(UTC)

    starts = [instant(series.dtstart), *(instant(key_to_wall(k, tz)) for k in series.rdates)]
    last: datetime | None = max(starts)
    if series.rrule:
        until = _rule_value(series.rrule, "UNTIL")
        count = _rule_value(series.rrule, "COUNT")
        if until is not None:
            end_of_rule = (
                datetime.strptime(until, "%Y%m%d").replace(tzinfo=UTC)
                if tz is None
                else datetime.strptime(until, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            )
            last = max([*starts, end_of_rule])
        elif count is not None:
            rule = build_rule(series.rrule, series.dtstart, tz)
            final: datetime | None = None
            try:
                for occurrence in walk(rule, budget):
                    final = occurrence
            except BudgetExceeded:
                if not budget.exhausted:
                    raise
                raise BudgetExceeded(
                    "rrule",
                    f"COUNT={count} needs more than {budget.limit} steps to expand; "
                    "end the rule with UNTIL or a smaller COUNT",
                ) from None
            if final is not None:
                last = max([*starts, instant(final.replace(tzinfo=None))])
        else:
            last = None
    first = min(starts)
    if tz is None:
        return first - _DATE_PAD, None if last is None else last + duration + _DATE_PAD
    return first, None if last is None else last + duration


def stored_span(series: Series, *, budget: int | Budget) -> tuple[datetime, datetime | None]:
    """The span to store for a series already accepted: :func:`span`, except that a COUNT rule that no
    longer fits the budget (it was lowered since) is open-ended. A wider span is still correct; range
    queries cut the series' expansion at their own budget."""
    try:
        return span(series, budget=budget)
    except BudgetExceeded:
        assert series.rrule
        unbounded = ";".join(p for p in series.rrule.split(";") if not p.startswith("COUNT="))
        return _span(replace(series, rrule=unbounded), Budget(0))


def first_instance(series: Series) -> Instance:
    """The occurrence at DTSTART (the whole of a single event)."""
    return _instance(series, series.dtstart, series.tz, series.duration)


def occurs(series: Series, key: str, *, limit: int, budget: int | Budget | None = None) -> bool:
    """Whether ``key`` names an occurrence of ``series`` (not one removed by EXDATE)."""
    tz = series.tz
    moment = datetime.combine(key_date(key), time(), tzinfo=UTC) if tz is None else key_instant(key)
    found = expand(series, moment, moment + timedelta(seconds=1), date_zone=UTC, limit=limit, budget=budget)
    return any(instance.key == key for instance in found.instances)


def split_rule(series: Series, key: str, *, budget: int | Budget = DEFAULT_BUDGET) -> tuple[str, str | None]:
    """Split a rule at occurrence ``key``: the rule that ends just before it, and the rule that goes
    on from it (``None`` when nothing is left, e.g. a COUNT used up before ``key``)."""
    assert series.rrule
    tz = series.tz
    kept = [p for p in series.rrule.split(";") if not p.startswith(("COUNT=", "UNTIL="))]
    if tz is None:
        until = (key_date(key) - timedelta(days=1)).strftime("%Y%m%d")
    else:
        until = (key_instant(key) - timedelta(seconds=1)).strftime("%Y%m%dT%H%M%SZ")
    before = ";".join([*kept, f"UNTIL={until}"])
    count = _rule_value(series.rrule, "COUNT")
    if count is None:
        return before, series.rrule
    split_wall = key_to_wall(key, tz)
    used = 0
    for occurrence in walk(build_rule(series.rrule, series.dtstart, tz), as_budget(budget)):
        if occurrence.replace(tzinfo=None) >= split_wall:
            break
        used += 1
    remaining = int(count) - used
    if remaining <= 0:
        return before, None
    return before, ";".join([*kept, f"COUNT={remaining}"])
