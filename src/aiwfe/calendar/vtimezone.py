"""VTIMEZONE components in the yearly-RRULE form most CalDAV servers and clients expand best.

icalendar writes every past transition as an RDATE list, which is valid RFC 5545 but some readers
(Radicale's vobject among them) expand wrongly after a DST change. Real rules are regular: "last Sunday
of March at 02:00". This derives those rules from the IANA data (zoneinfo) for the years a calendar
uses and writes one STANDARD/DAYLIGHT block per rule, with UNTIL where a rule ended; a transition that
fits no yearly pattern keeps its own block (RDATE), so the result is always exact.
"""

from __future__ import annotations

import calendar as monthdays
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from icalendar import Timezone, TimezoneDaylight, TimezoneStandard, vRecur

DAY_NAMES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
LAST_YEAR = 2037


@dataclass(frozen=True)
class _Transition:
    at: datetime  # UTC instant
    wall: datetime  # local wall time just before it (naive, in the old offset): DTSTART's convention
    offset_from: timedelta
    offset_to: timedelta
    name: str
    dst: bool


def _offset(tz: ZoneInfo, instant: datetime) -> timedelta:
    return instant.astimezone(tz).utcoffset() or timedelta()


def _transitions(tz: ZoneInfo, first_year: int, last_year: int) -> list[_Transition]:
    found: list[_Transition] = []
    day = datetime(first_year, 1, 1, tzinfo=UTC)
    end = datetime(last_year + 1, 1, 1, tzinfo=UTC)
    before = _offset(tz, day)
    while day < end:
        after = _offset(tz, day + timedelta(days=1))
        if after != before:
            lo, hi_minute = 0, 24 * 60  # minutes into the day; changes fall on whole minutes
            while hi_minute - lo > 1:
                mid = (lo + hi_minute) // 2
                if _offset(tz, day + timedelta(minutes=mid)) == before:
                    lo = mid
                else:
                    hi_minute = mid
            hi = day + timedelta(minutes=hi_minute)
            local = hi.astimezone(tz)
            found.append(
                _Transition(
                    at=hi,
                    wall=(hi + before).replace(tzinfo=None),
                    offset_from=before,
                    offset_to=after,
                    name=local.tzname() or "",
                    dst=bool(local.dst()),
                )
            )
            before = after
        day += timedelta(days=1)
    return found


def _byday(wall: datetime) -> tuple[str, str | None]:
    """The weekday and its BYDAY forms: nth ("2SU") and, for the month's last one, "-1SU"."""
    weekday = DAY_NAMES[wall.weekday()]
    nth = f"{(wall.day - 1) // 7 + 1}{weekday}"
    last = f"-1{weekday}" if wall.day + 7 > monthdays.monthrange(wall.year, wall.month)[1] else None
    return nth, last


def _runs(kind: list[_Transition]) -> list[tuple[list[_Transition], str | None]]:
    """Split one kind's transitions (year order) into runs of consecutive years sharing a BYDAY
    ("-1SU", "2SU"); a run of one has no rule."""
    runs: list[tuple[list[_Transition], str | None]] = []
    run: list[_Transition] = []
    shared: set[str] = set()
    for t in kind:
        forms = {form for form in _byday(t.wall) if form is not None}
        if run and t.wall.year == run[-1].wall.year + 1 and shared & forms:
            run.append(t)
            shared &= forms
            continue
        if run:
            runs.append((run, _pick(shared) if len(run) > 1 else None))
        run, shared = [t], forms
    if run:
        runs.append((run, _pick(shared) if len(run) > 1 else None))
    return runs


def _pick(forms: set[str]) -> str:
    # "last Sunday" reads as the rule when both fit (a run of years where it was also the 4th).
    return min(forms, key=lambda form: (not form.startswith("-"), form))


def _block(
    kind: type[TimezoneStandard] | type[TimezoneDaylight], first: _Transition
) -> TimezoneStandard | TimezoneDaylight:
    block = kind()
    block.add("TZNAME", first.name)
    block.add("DTSTART", first.wall)
    block.add("TZOFFSETFROM", first.offset_from)
    block.add("TZOFFSETTO", first.offset_to)
    return block


@lru_cache(maxsize=256)  # shared between calendars: callers serialise it, never change it
def vtimezone(tzid: str, first_year: int) -> Timezone:
    """The VTIMEZONE of ``tzid`` from ``first_year`` on (rules still in force at the end of the scan,
    2037 or two years on, repeat for ever)."""
    tz = ZoneInfo(tzid)
    last_year = max(LAST_YEAR, first_year + 2)
    component = Timezone()
    component.add("TZID", tzid)
    found = _transitions(tz, first_year, last_year)
    if not found:
        start = datetime(first_year, 1, 1, tzinfo=UTC)
        only = TimezoneStandard()
        local = start.astimezone(tz)
        only.add("TZNAME", local.tzname() or tzid)
        only.add("DTSTART", datetime(first_year, 1, 1))
        only.add("TZOFFSETFROM", local.utcoffset())
        only.add("TZOFFSETTO", local.utcoffset())
        component.add_component(only)
        return component
    # Transitions of one kind (same month, wall time, offsets and name), in runs of consecutive years.
    kinds: dict[tuple[object, ...], list[_Transition]] = defaultdict(list)
    for t in found:
        kinds[(t.wall.month, t.wall.time(), t.offset_from, t.offset_to, t.name, t.dst)].append(t)
    for transitions in kinds.values():
        for run, rule in _runs(transitions):
            kind = TimezoneDaylight if run[0].dst else TimezoneStandard
            block = _block(kind, run[0])
            if rule is not None:
                recur = vRecur(freq="YEARLY", bymonth=run[0].wall.month, byday=rule)
                if run[-1].wall.year < last_year:  # the rule ended (or changed)
                    recur["until"] = run[-1].at
                block.add("RRULE", recur)
            component.add_component(block)
    return component


def first_year(earliest: date) -> int:
    """The first year a VTIMEZONE needs for events from ``earliest`` (one before, for overlaps)."""
    return max(1970, earliest.year - 1)
