"""Expanding a series into its occurrences in a window."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from aiwfe.calendar.recurrence.budget import SCAN_FACTOR, Budget, BudgetExceeded, as_budget, walk
from aiwfe.calendar.recurrence.keys import instant_key, key_date, key_instant, key_to_wall, local_key, zone
from aiwfe.calendar.recurrence.rules import build_rule, shifted_start


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


def instance_at(series: Series, wall_start: datetime, tz: ZoneInfo | None, duration: timedelta) -> Instance:
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
    begin = shifted_start(series.rrule, series.dtstart, lower_wall - timedelta(days=1))
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

    consider(instance_at(series, series.dtstart, tz, duration))
    for key in series.rdates:
        consider(instance_at(series, key_to_wall(key, tz), tz, duration))
    for wall in _rule_starts(series, tz, lower_wall, upper_wall, scan):
        if wall is None:
            truncated = True
            break
        if wall < lower_wall:
            continue
        consider(instance_at(series, wall, tz, duration))
        if len(found) > limit:
            truncated = True
            break
    instances = sorted(found.values(), key=lambda i: (i.start.astimezone(UTC) if tz else i.start, i.key))
    if len(instances) > limit:
        instances, truncated = instances[:limit], True
    return Expansion(instances, truncated)


def first_instance(series: Series) -> Instance:
    """The occurrence at DTSTART (the whole of a single event)."""
    return instance_at(series, series.dtstart, series.tz, series.duration)


def occurs(series: Series, key: str, *, limit: int, budget: int | Budget | None = None) -> bool:
    """Whether ``key`` names an occurrence of ``series`` (not one removed by EXDATE)."""
    tz = series.tz
    moment = datetime.combine(key_date(key), time(), tzinfo=UTC) if tz is None else key_instant(key)
    found = expand(series, moment, moment + timedelta(seconds=1), date_zone=UTC, limit=limit, budget=budget)
    return any(instance.key == key for instance in found.instances)
