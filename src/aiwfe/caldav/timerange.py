"""Which resources occur in a calendar-query's time range when it is longer than any month view: each
decided by expanding just enough of its series, on the event loop up to the inline budget of rule
iterations, the rest in the expansion threads under their deadline (``calendar/offload.py``).

A decision may scan a whole rule (a COUNT rule from its start, a rule that skips most periods), and a
calendar may hold thousands: counted, not estimated, so the loop spends at most
``calendar_inline_expansion_steps`` iterations on one query, and a query the threads cannot finish within
``calendar_expansion_deadline_seconds`` is the same ``503 expansion-timeout`` a range read answers. The
decisions finished by then are kept in the process's expansion cache, so a retry goes on from there.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from functools import partial

from aiwfe.caldav.query import TimeRange
from aiwfe.calendar import offload
from aiwfe.calendar.cache import PageCache
from aiwfe.calendar.recurrence import SCAN_FACTOR, Budget, Series, expand, first_instance, overlaps
from aiwfe.core.settings import Settings


@dataclass(frozen=True)
class Timing:
    """One resource's timing, read from its rows on the event loop (the threads touch no database row).

    ``key`` names the resource's ETag, the calendar's zone, the window and the limit.
    """

    key: Hashable
    master: Series | None
    overrides: Mapping[str, Series]  # by RECURRENCE-ID
    exdates: frozenset[str]


async def occurring(
    pages: PageCache,
    settings: Settings,
    timings: Sequence[Timing],
    window: TimeRange,
    *,
    date_zone: tzinfo,
    limit: int,
) -> list[bool]:
    """Whether each resource has an occurrence in ``window``, in order (see the module)."""
    found: dict[int, bool] = {}
    todo: list[int] = []
    for index, timing in enumerate(timings):
        if pages.knows_expansion(timing.key):
            found[index] = pages.expansion(timing.key, _unreachable)
        else:
            todo.append(index)
    inline = Budget(settings.calendar_inline_expansion_steps, what="the event loop's share of the query")
    spilled = len(todo)
    for position, index in enumerate(todo):
        decided = _decide(timings[index], window, date_zone=date_zone, limit=limit, inline=inline)
        if decided is None:  # the loop's share is spent: this resource and the rest go to a thread
            spilled = position
            break
        found[index] = pages.expansion(timings[index].key, partial(_given, decided))
    rest = todo[spilled:]
    if rest:
        calls = [partial(decide, timings[i], window, date_zone=date_zone, limit=limit) for i in rest]
        deadline = settings.calendar_expansion_deadline_seconds
        done = await offload.in_thread_until(calls, deadline)
        for index, decided in zip(rest, done, strict=False):
            found[index] = pages.expansion(timings[index].key, partial(_given, decided))
        if len(done) < len(rest):
            # What was decided is kept (above): a retry goes on from there.
            raise offload.timed_out(
                f"deciding which of {len(rest)} resources occur in the time range", len(done), deadline
            )
    return [found[index] for index in range(len(timings))]


def decide(timing: Timing, window: TimeRange, *, date_zone: tzinfo, limit: int) -> bool:
    """Whether the resource occurs in ``window`` (its scan within a series' budget only)."""
    decided = _decide(timing, window, date_zone=date_zone, limit=limit, inline=None)
    assert decided is not None  # with no share to run out of, every decision is made
    return decided


def _decide(
    timing: Timing, window: TimeRange, *, date_zone: tzinfo, limit: int, inline: Budget | None
) -> bool | None:
    """:func:`decide`, its scan also charged to ``inline`` (the event loop's share): ``None`` when that ran
    out first."""
    if timing.master is not None:
        # One occurrence that was not moved decides, and any len(overrides) + 1 of them hold one: the scan
        # stops there. It may still run far (a COUNT rule from its start, a rule that skips most periods),
        # within the scan budget a range read gives a series.
        scan = SCAN_FACTOR * limit
        found = expand(
            timing.master,
            window.start,
            window.end,
            date_zone=date_zone,
            limit=len(timing.overrides) + 1,
            budget=scan if inline is None else inline.child(scan),
        )
        if inline is not None and inline.exhausted:
            return None
        if any(instance.key not in timing.overrides for instance in found.instances):
            return True
    for key, override in timing.overrides.items():
        if key in timing.exdates:
            continue
        lo, hi = first_instance(override).bounds(date_zone)
        if overlaps(lo, hi, window.start, window.end):
            return True
    return False


def _given(decided: bool) -> bool:
    return decided


def _unreachable() -> bool:
    raise AssertionError("a known decision is never computed")
