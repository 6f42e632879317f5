"""Expanding a range query's series: on the event loop when the work is small, in a worker thread with a
deadline when it is not.

A read expands every recurring series that overlaps its window; each may spend up to
``SCAN_FACTOR * calendar_max_instances`` rule iterations (about 75 ms of CPU at worst), and a calendar may
hold thousands. Work estimated above ``calendar_inline_expansion_steps`` goes to a small thread pool, so
the replica's other requests (and ``/health``) keep being served; the request waits at most
``calendar_expansion_deadline_seconds`` and is then answered ``503`` with ``Retry-After``. The series
expanded by then stay in the process's expansion cache, so a retry goes on where the last one stopped.
Merging and sorting a page's instances follows them into the thread when there are many (``MERGE_INLINE``).
The estimate is cheap and errs high: a rule that filters a fine frequency by coarse parts (a daily rule
on 29 February) may scan far beyond the window for its next occurrence, so it counts at its whole budget.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from functools import partial
from typing import TypeVar

from aiwfe.calendar.cache import PageCache
from aiwfe.calendar.errors import ExpansionTimeout
from aiwfe.calendar.recurrence import SCAN_FACTOR, Expansion, Series, expand
from aiwfe.core.settings import Settings

# The threads share the GIL with the event loop, which gets it back within a switch interval (0.5 ms in the
# API: api/runtime.py): two of them keep one large read from queueing behind another without starving the
# loop.
THREADS = 2
# Instances a page may merge and sort on the event loop (a few microseconds each): more go to the thread.
MERGE_INLINE = 5000
_PERIOD = {
    "HOURLY": timedelta(hours=1),
    "DAILY": timedelta(days=1),
    "WEEKLY": timedelta(weeks=1),
    "MONTHLY": timedelta(days=31),
    "YEARLY": timedelta(days=366),
}
# Parts that leave most periods of a finer frequency empty: the scan's length is not the window's.
_SPARSE = {
    "HOURLY": ("BYMONTH", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYSETPOS"),
    "DAILY": ("BYMONTH", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYSETPOS"),
    "WEEKLY": ("BYMONTH", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYSETPOS"),
    "MONTHLY": ("BYMONTH", "BYYEARDAY", "BYWEEKNO", "BYSETPOS"),
    "YEARLY": (),
}
# The wall-clock margins expand() scans around the window, and the gap to the next BYDAY match.
_SLACK = timedelta(days=9)
_pool: ThreadPoolExecutor | None = None
T = TypeVar("T")


@dataclass(frozen=True)
class Expanded:
    """Each job's expansion, and whether what follows belongs in the worker thread (the work was large)."""

    expansions: list[Expansion]
    in_thread: bool


@dataclass(frozen=True)
class Job:
    """One series to expand: its cache key (row ETag and range), its timing, the zone of its dates."""

    key: Hashable
    series: Callable[[], Series]
    date_zone: tzinfo


def estimate(series: Series, start: datetime, end: datetime, limit: int) -> int:
    """Rule iterations :func:`expand` is expected to spend on ``series`` for ``[start, end)``, at most its
    scan budget."""
    rule = series.rrule
    if not rule:
        return 1
    scan = SCAN_FACTOR * limit
    parts = dict(part.partition("=")[::2] for part in rule.split(";"))  # canonical: NAME=VALUE;...
    freq = parts.get("FREQ", "DAILY")
    if any(name in parts for name in _SPARSE.get(freq, ())):
        return scan
    first = series.dtstart.replace(tzinfo=start.tzinfo)
    count = parts.get("COUNT")
    # A COUNT rule is walked from its first occurrence, any other from just before the window.
    begin = first if count is not None else max(first, start - series.duration)
    period = _PERIOD.get(freq, _PERIOD["HOURLY"]) * int(parts.get("INTERVAL", "1"))
    periods = math.ceil(max(end - begin + _SLACK, timedelta()) / period)
    if count is not None:  # not sparse: at least one occurrence every other period (BYMONTHDAY=31)
        periods = min(periods, 2 * int(count) + 2)
    per_period = 1
    for name in ("BYDAY", "BYHOUR", "BYMINUTE", "BYMONTHDAY", "BYYEARDAY"):
        if name in parts:
            per_period *= parts[name].count(",") + 1
    return min(scan, periods + min(limit, periods * per_period))


async def expand_all(
    pages: PageCache, settings: Settings, jobs: Sequence[Job], start: datetime, end: datetime
) -> Expanded:
    """Each job's expansion over ``[start, end)``, in order: cached ones as they are, the others inline
    or, when together they are estimated above the inline budget, in a worker thread (see the module)."""
    limit = settings.calendar_max_instances
    found: dict[int, Expansion] = {}
    todo: list[tuple[int, Job, Series]] = []
    for index, job in enumerate(jobs):
        if pages.knows_expansion(job.key):
            found[index] = pages.expansion(job.key, _unreachable)
        else:
            todo.append((index, job, job.series()))
    work = sum(estimate(series, start, end, limit) for _, _, series in todo)
    large = work > settings.calendar_inline_expansion_steps
    if not large:
        for index, job, series in todo:
            found[index] = pages.expansion(
                job.key, partial(expand, series, start, end, date_zone=job.date_zone, limit=limit)
            )
    else:
        calls = [
            partial(expand, series, start, end, date_zone=job.date_zone, limit=limit)
            for _, job, series in todo
        ]
        done = await in_thread_until(calls, settings.calendar_expansion_deadline_seconds)
        for (index, job, _series), expansion in zip(todo, done, strict=False):
            found[index] = pages.expansion(job.key, partial(_given, expansion))
        if len(done) < len(todo):
            # What was finished is kept (above): a retry goes on from there.
            raise timed_out(
                f"expanding {len(todo)} recurring series",
                len(done),
                settings.calendar_expansion_deadline_seconds,
            )
    expansions = [found[index] for index in range(len(jobs))]
    # Cached expansions (a retry after a 503) can be many instances too: merging them costs a few us each.
    many = large or sum(len(expansion.instances) for expansion in expansions) > MERGE_INLINE
    return Expanded(expansions, many)


async def in_thread(work: Callable[[], T]) -> T:
    """``work()`` in the expansion threads: for what follows a large expansion (no deadline: its size is
    bounded by the expansions it is given)."""
    return await asyncio.get_running_loop().run_in_executor(_executor(), work)


async def in_thread_until(work: Sequence[Callable[[], T]], deadline: float) -> list[T]:
    """The results of ``work``'s calls, made one after another in the expansion threads, that finish within
    ``deadline`` seconds: all of them, or the first few. Each call is one bounded piece of recurrence work
    (a series' scan budget)."""
    stop = threading.Event()
    done: list[T] = []  # written by the thread only, read after it has returned

    def run() -> None:
        # The check comes after a call: every attempt finishes one at least, so retries converge.
        for call in work:
            done.append(call())
            if stop.is_set():
                return

    future = asyncio.get_running_loop().run_in_executor(_executor(), run)
    try:
        await asyncio.wait_for(asyncio.shield(future), deadline)
    except TimeoutError:
        stop.set()
        await future  # ends after the call in hand: one scan budget at most
    except BaseException:  # the client went away: stop spending CPU on its answer
        stop.set()
        raise
    return done


def timed_out(what: str, done: int, deadline: float) -> ExpansionTimeout:
    """The 503 for work that missed its deadline after ``done`` pieces (kept by the caller for a retry)."""
    return ExpansionTimeout(
        f"{what} took longer than {deadline:g} s ({done} done); try again, or ask for a shorter range",
        headers={"Retry-After": "2"},
    )


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="aiwfe-expand")
    return _pool


def _unreachable() -> Expansion:
    raise AssertionError("a known expansion is never computed")


def _given(expansion: Expansion) -> Expansion:
    return expansion
