"""The range-query page cache: every kind of write shows in the next read, pages never cross users, a
replica with an empty memory reads Redis, concurrent misses build once, and memory stays bounded."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from httpx import AsyncClient
from tests.auth.conftest import Api
from tests.calendar.conftest import Caller, sign_up
from tests.processes import RunningProcess

from aiwfe.calendar.cache import PageCache

MARCH = {"start": "2026-03-01T00:00:00+01:00", "end": "2026-04-01T00:00:00+02:00"}
WEEKLY = {
    "summary": "Standup",
    "start": {"date_time": "2026-03-02T09:00:00", "time_zone": "Europe/Berlin"},
    "end": {"date_time": "2026-03-02T09:15:00", "time_zone": "Europe/Berlin"},
    "rrule": "FREQ=WEEKLY",
}
ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:test\r\nBEGIN:VEVENT\r\nUID:imported@example.com\r\n"
    "DTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20260310T120000\r\nDURATION:PT1H\r\n"
    "SUMMARY:Imported\r\nDESCRIPTION:" + "\r\n ".join(["x" * 70] * 12) + "\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
).encode()  # over the 512-byte inline limit of small_inline_api: that one is a worker job


def pages(api: Api) -> PageCache:
    cache: PageCache = api.app.state.calendar_pages
    return cache


async def month(caller: Caller, **params: Any) -> list[dict[str, Any]]:
    response = await caller.get("/api/v1/events", params={**MARCH, **params})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def cached_month(api: Api, caller: Caller, **params: Any) -> list[dict[str, Any]]:
    """The month read twice: the second read must come from memory (else this tests nothing)."""
    first = await month(caller, **params)
    hits = pages(api).stats.memory_hits
    assert await month(caller, **params) == first
    assert pages(api).stats.memory_hits == hits + 1
    return first


def summaries(items: list[dict[str, Any]]) -> list[str]:
    return [item["summary"] for item in items]


async def test_creating_an_event_shows_in_the_next_read(api: Api, alice: Caller) -> None:
    calendar = await alice.calendar(time_zone="Europe/Berlin")
    assert await cached_month(api, alice) == []
    await alice.event(calendar["id"], **WEEKLY)
    assert summaries(await month(alice)) == ["Standup"] * 5


async def test_editing_the_series_one_occurrence_or_the_following_shows_in_the_next_read(
    api: Api, alice: Caller
) -> None:
    calendar = await alice.calendar(time_zone="Europe/Berlin")
    event = await alice.event(calendar["id"], **WEEKLY)
    await cached_month(api, alice)

    response = await alice.patch(f"/api/v1/events/{event['id']}", json={"summary": "Daily sync"})
    assert response.status_code == 200, response.text
    assert summaries(await cached_month(api, alice)) == ["Daily sync"] * 5

    key = (await month(alice))[1]["recurrence_id"]
    response = await alice.patch(
        f"/api/v1/events/{event['id']}",
        params={"scope": "occurrence", "recurrence_id": key},
        json={"summary": "Moved"},
    )
    assert response.status_code == 200, response.text
    assert summaries(await cached_month(api, alice)) == ["Daily sync", "Moved", *["Daily sync"] * 3]

    key = (await month(alice))[3]["recurrence_id"]
    response = await alice.patch(
        f"/api/v1/events/{event['id']}",
        params={"scope": "following", "recurrence_id": key},
        json={"summary": "Renamed"},
    )
    assert response.status_code == 200, response.text
    assert summaries(await month(alice)) == ["Daily sync", "Moved", "Daily sync", "Renamed", "Renamed"]


async def test_after_an_edit_only_the_edited_series_is_expanded_again(api: Api, alice: Caller) -> None:
    calendar = await alice.calendar(time_zone="Europe/Berlin")
    kept = await alice.event(calendar["id"], **WEEKLY)
    edited = await alice.event(calendar["id"], **{**WEEKLY, "summary": "Review", "rrule": "FREQ=DAILY"})
    await month(alice)
    reused = pages(api).stats.expansions_reused
    response = await alice.patch(f"/api/v1/events/{edited['id']}", json={"exdates": ["2026-03-03T08:00:00Z"]})
    assert response.status_code == 200, response.text
    items = await month(alice)
    assert pages(api).stats.expansions_reused == reused + 1  # the untouched weekly series
    assert len([i for i in items if i["event_id"] == kept["id"]]) == 5
    assert len([i for i in items if i["event_id"] == edited["id"]]) == 29  # 30 days, one excluded


async def test_deleting_an_occurrence_or_the_event_shows_in_the_next_read(api: Api, alice: Caller) -> None:
    calendar = await alice.calendar(time_zone="Europe/Berlin")
    event = await alice.event(calendar["id"], **WEEKLY)
    items = await cached_month(api, alice)

    response = await alice.delete(
        f"/api/v1/events/{event['id']}",
        params={"scope": "occurrence", "recurrence_id": items[0]["recurrence_id"]},
    )
    assert response.status_code == 204, response.text
    assert len(await cached_month(api, alice)) == 4

    response = await alice.delete(f"/api/v1/events/{event['id']}")
    assert response.status_code == 204, response.text
    assert await month(alice) == []


async def test_an_import_shows_in_the_next_read(api: Api, alice: Caller) -> None:
    calendar = await alice.calendar(time_zone="Europe/Berlin")
    await cached_month(api, alice)
    response = await alice.post(
        f"/api/v1/calendars/{calendar['id']}/import", content=ICS, headers={"Content-Type": "text/calendar"}
    )
    assert response.status_code == 200, response.text
    assert summaries(await month(alice)) == ["Imported"]


async def test_a_worker_import_shows_in_the_next_read(
    worker: RunningProcess, small_inline_api: AsyncClient
) -> None:
    carol = await sign_up(small_inline_api, "carol@example.com")
    calendar = await carol.calendar(time_zone="Europe/Berlin")
    assert await month(carol) == []
    response = await carol.post(
        f"/api/v1/calendars/{calendar['id']}/import", content=ICS, headers={"Content-Type": "text/calendar"}
    )
    assert response.status_code == 202, response.text
    for _ in range(300):
        job = (await carol.get(response.headers["location"])).json()
        if job["status"] in ("succeeded", "failed"):
            break
        await asyncio.sleep(0.1)
    assert job["status"] == "succeeded", job
    assert summaries(await month(carol)) == ["Imported"]


async def test_changing_the_calendar_zone_moves_all_day_events_in_the_next_read(
    api: Api, alice: Caller
) -> None:
    calendar = await alice.calendar(time_zone="Pacific/Kiritimati")  # UTC+14
    await alice.event(calendar["id"], summary="Holiday", start={"date": "2026-03-01"})
    params = {"start": "2026-02-28T00:00:00Z", "end": "2026-02-28T12:00:00Z"}
    assert summaries(await cached_month(api, alice, **params)) == ["Holiday"]
    response = await alice.patch(f"/api/v1/calendars/{calendar['id']}", json={"time_zone": "UTC"})
    assert response.status_code == 200, response.text
    assert await month(alice, **params) == []


async def test_users_never_get_each_others_pages(api: Api, alice: Caller, bob: Caller) -> None:
    calendar = await alice.calendar(time_zone="Europe/Berlin")
    await alice.event(calendar["id"], **WEEKLY)
    await bob.calendar(time_zone="Europe/Berlin")
    assert len(await cached_month(api, alice)) == 5

    assert await month(bob) == []
    response = await bob.get("/api/v1/events", params={**MARCH, "calendar": calendar["id"]})
    assert response.status_code == 404, response.text
    # Even with alice's page ETag in hand, bob gets his own (empty) page, never a 304 on hers.
    tag = (await alice.get("/api/v1/events", params=MARCH)).headers["etag"]
    response = await bob.get("/api/v1/events", params=MARCH, headers={"If-None-Match": tag})
    assert response.status_code == 200
    assert response.json()["items"] == []


async def test_a_replica_with_an_empty_memory_reads_redis_and_never_an_old_version(
    api: Api, alice: Caller
) -> None:
    calendar = await alice.calendar(time_zone="Europe/Berlin")
    event = await alice.event(calendar["id"], **WEEKLY)
    first = await month(alice)
    pages(api).clear()  # as if another API process answered the next read
    hits = pages(api).stats.redis_hits
    assert await month(alice) == first
    assert pages(api).stats.redis_hits == hits + 1

    response = await alice.patch(f"/api/v1/events/{event['id']}", json={"summary": "Changed"})
    assert response.status_code == 200, response.text
    pages(api).clear()
    assert summaries(await month(alice)) == ["Changed"] * 5


async def test_the_etag_still_answers_304_until_a_write(alice: Caller) -> None:
    calendar = await alice.calendar(time_zone="Europe/Berlin")
    event = await alice.event(calendar["id"], **WEEKLY)
    tag = (await alice.get("/api/v1/events", params=MARCH)).headers["etag"]
    response = await alice.get("/api/v1/events", params=MARCH, headers={"If-None-Match": tag})
    assert response.status_code == 304
    await alice.patch(f"/api/v1/events/{event['id']}", json={"summary": "Changed"})
    response = await alice.get("/api/v1/events", params=MARCH, headers={"If-None-Match": tag})
    assert response.status_code == 200
    assert response.headers["etag"] != tag


# ---- the cache on its own ------------------------------------------------------------------------


async def test_concurrent_misses_on_one_key_build_once() -> None:
    cache = PageCache(None, ttl_seconds=60, memory_bytes=1 << 20)
    builds = 0

    async def build() -> bytes:
        nonlocal builds
        builds += 1
        await asyncio.sleep(0.05)
        return b"page"

    results = await asyncio.gather(*(cache.get_or_build("k", build) for _ in range(8)))
    assert results == [b"page"] * 8
    assert builds == 1


async def test_a_failed_build_is_not_cached_and_the_next_request_builds_again() -> None:
    cache = PageCache(None, ttl_seconds=60, memory_bytes=1 << 20)

    async def broken() -> bytes:
        raise RuntimeError("database down")

    async def fine() -> bytes:
        return b"page"

    with pytest.raises(RuntimeError):
        await cache.get_or_build("k", broken)
    assert await cache.get_or_build("k", fine) == b"page"


async def test_memory_holds_at_most_its_budget_dropping_the_least_recently_used() -> None:
    cache = PageCache(None, ttl_seconds=60, memory_bytes=4000)

    async def page(n: int) -> bytes:
        return await cache.get_or_build(f"k{n}", lambda: asyncio.sleep(0, b"x" * 1000))

    for n in range(4):
        await page(n)
    await page(0)  # now the most recently used
    await page(4)
    hits = cache.stats.memory_hits
    await page(0)
    assert cache.stats.memory_hits == hits + 1
    builds = cache.stats.builds
    await page(1)
    assert cache.stats.builds == builds + 1


async def test_a_zero_ttl_turns_caching_off() -> None:
    cache = PageCache(None, ttl_seconds=0, memory_bytes=1 << 20)
    for _ in range(3):
        await cache.get_or_build("k", lambda: asyncio.sleep(0, b"page"))
    assert cache.stats.builds == 3
