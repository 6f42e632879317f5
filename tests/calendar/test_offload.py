"""Range queries expand small work on the event loop and large work in a worker thread with a deadline
(calendar/offload.py): the thread really is another one, its answer is the inline one, and a deadline
missed is a 503 problem whose retries go on where the last one stopped."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient
from tests.calendar.conftest import Caller

from aiwfe.api.app import create_app
from aiwfe.calendar import offload
from aiwfe.calendar.cache import PageCache
from aiwfe.calendar.errors import ExpansionTimeout
from aiwfe.calendar.occurrences import OccurrenceService
from aiwfe.calendar.recurrence import Expansion, Series, zone
from aiwfe.core.settings import Settings

START = datetime(2028, 1, 1, tzinfo=UTC)
END = START + timedelta(days=100)
SPARSE = "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29"  # counted at its whole scan budget by the estimate
HOURLY = "FREQ=HOURLY"  # thousands of occurrences in the window: real work for the thread
BERLIN = zone("Europe/Berlin")


def _series() -> list[Series]:
    nine = datetime(2027, 12, 6, 9, 0)
    return [
        Series(nine, nine + timedelta(hours=1), "Europe/Berlin", "FREQ=DAILY"),
        Series(nine, nine + timedelta(minutes=30), "America/New_York", "FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=40"),
        Series(datetime(2027, 12, 24), datetime(2027, 12, 25), None, "FREQ=MONTHLY;BYMONTHDAY=24,-1"),
        Series(nine, nine + timedelta(hours=2), "Europe/Berlin", SPARSE, exdates={"2028-02-29T08:00:00Z"}),
        Series(nine, nine + timedelta(hours=1), "Europe/Berlin"),
    ]


def _jobs(series: list[Series], tag: str = "") -> list[offload.Job]:
    return [offload.Job((tag, n), (lambda s=s: s), BERLIN) for n, s in enumerate(series)]


def _settings(settings: Settings, **update: Any) -> Settings:
    return settings.model_copy(update=update)


def _pages() -> PageCache:
    return PageCache(None, ttl_seconds=60, memory_bytes=1 << 20)


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of the thread each expansion ran in (the real expansion still runs)."""
    seen: list[str] = []
    real: Callable[..., Expansion] = offload.expand

    def spy(*args: Any, **kwargs: Any) -> Expansion:
        seen.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(offload, "expand", spy)
    return seen


async def test_small_work_is_expanded_on_the_event_loop(base_settings: Settings, threads: list[str]) -> None:
    series = _series()[:3] + _series()[4:]  # no worst case
    settings = _settings(base_settings)
    assert sum(offload.estimate(s, START, END, settings.calendar_max_instances) for s in series) <= (
        settings.calendar_inline_expansion_steps
    )
    await offload.expand_all(_pages(), settings, _jobs(series), START, END)
    assert threads == [threading.current_thread().name] * len(series)


async def test_large_work_is_expanded_in_a_worker_thread(base_settings: Settings, threads: list[str]) -> None:
    series = _series()
    settings = _settings(base_settings)
    assert offload.estimate(series[3], START, END, settings.calendar_max_instances) > (
        settings.calendar_inline_expansion_steps
    )
    await offload.expand_all(_pages(), settings, _jobs(series), START, END)
    assert len(threads) == len(series)
    assert threading.current_thread().name not in threads
    assert all(name.startswith("aiwfe-expand") for name in threads), threads


async def test_the_worker_thread_answers_what_the_event_loop_does(base_settings: Settings) -> None:
    series = _series()
    inline = _settings(base_settings, calendar_inline_expansion_steps=10**9)
    threaded = _settings(base_settings, calendar_inline_expansion_steps=0)
    expected = await offload.expand_all(_pages(), inline, _jobs(series), START, END)
    got = await offload.expand_all(_pages(), threaded, _jobs(series), START, END)
    assert (expected.in_thread, got.in_thread) == (False, True)
    assert got.expansions == expected.expansions
    assert sum(len(e.instances) for e in got.expansions) > 100  # the comparison saw real occurrences


async def test_a_missed_deadline_is_a_503_and_retries_go_on_where_it_stopped(base_settings: Settings) -> None:
    series = [
        Series(datetime(2027, 12, 6, 9, n), datetime(2027, 12, 6, 10), "Europe/Berlin", HOURLY)
        for n in range(6)
    ]
    settings = _settings(
        base_settings, calendar_inline_expansion_steps=0, calendar_expansion_deadline_seconds=1e-6
    )
    pages = _pages()
    jobs = _jobs(series)
    with pytest.raises(ExpansionTimeout) as refused:
        await offload.expand_all(pages, settings, jobs, START, END)
    assert refused.value.status == 503
    assert refused.value.headers == {"Retry-After": "2"}
    assert "try again" in refused.value.detail
    found: offload.Expanded | None = None
    for _retry in range(len(series)):  # each attempt finishes one series at least
        try:
            found = await offload.expand_all(pages, settings, jobs, START, END)
            break
        except ExpansionTimeout:
            continue
    assert found is not None, "the retries made no progress"
    inline = _settings(base_settings, calendar_inline_expansion_steps=10**9)
    expected = await offload.expand_all(_pages(), inline, _jobs(series), START, END)
    assert found.expansions == expected.expansions
    again = await offload.expand_all(pages, settings, jobs, START, END)  # every expansion cached now
    assert again.expansions == expected.expansions
    assert again.in_thread  # but 14,400 instances: their merge stays off the loop


async def test_a_client_that_leaves_stops_the_worker(base_settings: Settings, threads: list[str]) -> None:
    series = [
        Series(datetime(2027, 12, 6, 9, n), datetime(2027, 12, 6, 10), "Europe/Berlin", HOURLY)
        for n in range(20)
    ]
    settings = _settings(base_settings, calendar_inline_expansion_steps=0)
    task = asyncio.create_task(offload.expand_all(_pages(), settings, _jobs(series), START, END))
    await asyncio.sleep(0)  # the request starts its worker
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    pool = offload._executor()
    await asyncio.to_thread(pool.shutdown, wait=True)  # returns once the worker has stopped
    offload._pool = None
    assert len(threads) < len(series)


# ---- through the API ------------------------------------------------------------------------------


@pytest.fixture
async def strict_http(settings: Settings) -> AsyncIterator[AsyncClient]:
    """The app with every expansion sent to the worker thread under a deadline it cannot meet."""
    app = create_app(
        _settings(settings, calendar_inline_expansion_steps=0, calendar_expansion_deadline_seconds=1e-6)
    )
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as http,
    ):
        yield http


async def test_a_range_read_past_its_deadline_is_a_503_problem_then_the_page(
    alice: Caller, strict_http: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    merged_in: list[str] = []
    real_merge = OccurrenceService._merge

    def merge(*args: Any) -> Any:
        merged_in.append(threading.current_thread().name)
        return real_merge(*args)

    monkeypatch.setattr(OccurrenceService, "_merge", staticmethod(merge))
    calendar = await alice.calendar()
    for minute in range(6):
        await alice.event(
            calendar["id"],
            start={"date_time": f"2028-01-06T09:{minute:02d}:00", "time_zone": "Europe/Berlin"},
            end={"date_time": "2028-01-06T10:00:00", "time_zone": "Europe/Berlin"},
            rrule=HOURLY,
        )
    window = {"start": "2028-02-01T00:00:00Z", "end": "2028-02-15T00:00:00Z", "limit": 2500}
    strict = Caller(strict_http, alice.headers)
    response = await strict.get("/api/v1/events", params=window)
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["retry-after"] == "2"
    problem = response.json()
    assert problem["type"].endswith("expansion-timeout")
    assert problem["status"] == 503
    assert "try again" in problem["detail"]
    for _retry in range(6):
        response = await strict.get("/api/v1/events", params=window)
        if response.status_code != 503:
            break
    assert response.status_code == 200, response.text
    # The default app, small enough for the loop; naming the calendar makes it a new page, not the cached one.
    inline = await alice.get("/api/v1/events", params={**window, "calendar": calendar["id"]})
    assert response.json() == inline.json()
    assert len(inline.json()["items"]) == 6 * 14 * 24
    # The strict app merged its 2,016 instances in the worker thread, the default app on the event loop.
    assert merged_in[0].startswith("aiwfe-expand"), merged_in
    assert merged_in[-1] == threading.current_thread().name
