"""Calendar stamps (calendar/stamps.py): a commit by any writer shows in the next cached read — the API, a
second replica, CalDAV, a sync, bulk statements (the worker's imports: test_range_cache.py) — also after
Redis is flushed or restarted from disk; a cache hit reads no database; a stamp never crosses users."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import delete, event, insert, text, update
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from tests.auth.conftest import Api, login_token
from tests.calendar import sync_support, test_sync_google
from tests.calendar.conftest import Caller, sign_up
from tests.calendar.google_stub import GoogleStub
from tests.calendar.sync_support import IcsServer, run_sync, vcalendar, vevent
from tests.calendar.test_range_cache import WEEKLY, cached_month, month, summaries
from tests.calendar.test_sync_caldav import Collection, _caldav_calendar
from tests.calendar.test_sync_google import _connect, _google_calendar, _timed
from tests.conftest import app_client

from aiwfe.calendar.models import Calendar, Event
from aiwfe.calendar.stamps import hot_write
from aiwfe.core.db import create_engine, create_sessionmaker
from aiwfe.core.redis import create_redis
from aiwfe.core.settings import Settings
from aiwfe.core.stamps import CalendarStamps
from aiwfe_stack.ports import free_ports
from aiwfe_stack.redis import RedisServer
from aiwfe_stack.servers.radicale import Radicale

enqueued = sync_support.enqueued
ics_server = sync_support.ics_server
sync_settings = sync_support.sync_settings
settings = sync_support.loopback_settings  # an ICS source on 127.0.0.1 may be added
google = test_sync_google.google
google_settings = test_sync_google.google_settings

DAV_EVENT = vcalendar(vevent("dav-standup", "From the phone", extra="RRULE:FREQ=WEEKLY;COUNT=2\r\n"))


async def user_id(caller: Caller) -> uuid.UUID:
    response = await caller.get("/api/v1/me")
    assert response.status_code == 200, response.text
    return uuid.UUID(response.json()["id"])


async def test_a_cached_read_opens_no_database_connection(api: Api, alice: Caller) -> None:
    calendar = await alice.calendar(time_zone="Europe/Berlin")
    await alice.event(calendar["id"], **WEEKLY)
    await cached_month(api, alice)  # the session's snapshot and the page are cached now
    checkouts: list[object] = []
    pool = api.app.state.engine.sync_engine.pool
    listener = lambda *args: checkouts.append(args)  # noqa: E731
    event.listen(pool, "checkout", listener)
    try:
        assert len(await month(alice)) == 5
    finally:
        event.remove(pool, "checkout", listener)
    assert checkouts == []


async def test_a_write_through_another_replica_shows_in_the_next_read(
    api: Api, alice: Caller, settings: Settings
) -> None:
    calendar = await alice.calendar(time_zone="Europe/Berlin")
    event_ = await alice.event(calendar["id"], **WEEKLY)
    await cached_month(api, alice)
    async with app_client(settings) as other:
        response = await Caller(other, alice.headers).patch(
            f"/api/v1/events/{event_['id']}", json={"summary": "Elsewhere"}
        )
        assert response.status_code == 200, response.text
    assert summaries(await cached_month(api, alice)) == ["Elsewhere"] * 5


async def test_deleting_a_calendar_shows_in_the_next_read(api: Api, alice: Caller) -> None:
    calendar = await alice.calendar(time_zone="Europe/Berlin")
    await alice.event(calendar["id"], **WEEKLY)
    assert len(await cached_month(api, alice)) == 5
    response = await alice.delete(f"/api/v1/calendars/{calendar['id']}")
    assert response.status_code == 204, response.text
    assert await month(alice) == []


async def test_caldav_put_and_delete_show_in_the_next_read(api: Api, alice: Caller) -> None:
    calendar = await alice.calendar(time_zone="Europe/Berlin")
    assert await cached_month(api, alice) == []
    response = await alice.post("/api/v1/me/tokens", json={"name": "phone", "scopes": ["caldav"]})
    assert response.status_code == 201, response.text
    auth = ("alice@example.com", response.json()["token"])
    url = f"/dav/calendars/{await user_id(alice)}/{calendar['id']}/standup.ics"

    response = await api.http.put(
        url, content=DAV_EVENT, headers={"Content-Type": "text/calendar"}, auth=auth
    )
    assert response.status_code == 201, response.text
    assert summaries(await cached_month(api, alice)) == ["From the phone"] * 2

    response = await api.http.delete(url, auth=auth)
    assert response.status_code == 204, response.text
    assert await month(alice) == []


async def test_a_sync_run_shows_in_the_next_read(
    api: Api, alice: Caller, ics_server: IcsServer, sync_settings: Settings, enqueued: list[uuid.UUID]
) -> None:
    ics_server.serve("/a.ics", vcalendar(vevent("a", "Kickoff")), headers={"ETag": '"v1"'})
    calendar = await alice.calendar(name="Feed", source="ics", source_url=ics_server.url("/a.ics"))
    assert await cached_month(api, alice) == []
    # What the worker's sync task runs, in its own engine and session (the hook's path without the API).
    assert await run_sync(sync_settings, calendar["id"]) == "changed"
    assert summaries(await cached_month(api, alice)) == ["Kickoff"]
    ics_server.serve("/a.ics", vcalendar(vevent("b", "Review")), headers={"ETag": '"v2"'})
    assert await run_sync(sync_settings, calendar["id"]) == "changed"
    assert summaries(await month(alice)) == ["Review"]


async def test_a_caldav_sync_run_shows_in_the_next_read(
    api: Api, alice: Caller, radicale: Radicale, sync_settings: Settings, enqueued: list[uuid.UUID]
) -> None:
    collection = Collection(radicale)
    collection.put("a.ics", vcalendar(vevent("a", "Planning")))
    calendar = await _caldav_calendar(alice, collection)
    assert await cached_month(api, alice) == []
    assert await run_sync(sync_settings, calendar["id"]) == "changed"
    assert summaries(await cached_month(api, alice)) == ["Planning"]
    collection.delete("a.ics")
    assert await run_sync(sync_settings, calendar["id"]) == "changed"
    assert await month(alice) == []


async def test_a_google_sync_run_shows_in_the_next_read(
    api: Api,
    alice: Caller,
    google: tuple[GoogleStub, str],
    google_settings: Settings,
    enqueued: list[uuid.UUID],
) -> None:
    stub, _ = google
    stub.put(
        "primary",
        id="single",
        summary="Dentist",
        **_timed("2026-03-03T09:00:00+01:00", "2026-03-03T10:00:00+01:00"),
    )
    calendar = await _google_calendar(alice, await _connect(google_settings, alice, stub.access_token))
    assert await cached_month(api, alice) == []
    assert await run_sync(google_settings, calendar["id"]) == "changed"
    assert summaries(await month(alice)) == ["Dentist"]


async def test_bulk_statements_bump_the_owners_they_touch_and_no_one_else(
    api: Api, alice: Caller, bob: Caller, settings: Settings
) -> None:
    alices = await alice.calendar(time_zone="Europe/Berlin")
    await alice.event(alices["id"], **WEEKLY)
    await bob.calendar(time_zone="Europe/Berlin")
    alice_id, bob_id = await user_id(alice), await user_id(bob)
    stamps = CalendarStamps(api.app.state.redis, settings)
    engine = create_engine(settings)
    try:
        sessions = create_sessionmaker(engine)
        before = {alice_id: await stamps.read(alice_id), bob_id: await stamps.read(bob_id)}

        async with sessions() as db:  # rolled back: nothing to bump
            await db.execute(delete(Event).where(Event.calendar_id == uuid.UUID(alices["id"])))
            await db.rollback()
        assert await stamps.read(alice_id) == before[alice_id]

        async with sessions() as db:
            await db.execute(delete(Event).where(Event.calendar_id == uuid.UUID(alices["id"])))
            await db.commit()
        assert await stamps.read(alice_id) != before[alice_id]
        assert await stamps.read(bob_id) == before[bob_id]

        before = {alice_id: await stamps.read(alice_id), bob_id: await stamps.read(bob_id)}
        async with sessions() as db:
            await db.execute(update(Calendar).where(Calendar.owner_id == bob_id).values(color="#000000"))
            await db.commit()
        assert await stamps.read(bob_id) != before[bob_id]
        assert await stamps.read(alice_id) == before[alice_id]
    finally:
        await engine.dispose()
    assert await month(alice) == []


async def test_a_bulk_insert_whose_owners_are_unknown_bumps_everyone(
    api: Api, alice: Caller, bob: Caller, settings: Settings
) -> None:
    bobs = await bob.calendar(time_zone="Europe/Berlin")
    alice_id, bob_id = await user_id(alice), await user_id(bob)
    stamps = CalendarStamps(api.app.state.redis, settings)
    before = {alice_id: await stamps.read(alice_id), bob_id: await stamps.read(bob_id)}
    at = datetime(2026, 3, 10, 9)
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as db:
            await db.execute(
                insert(Event).values(
                    calendar_id=uuid.UUID(bobs["id"]),
                    uid="bulk",
                    dtstart=at,
                    dtend=at.replace(hour=10),
                    etag="bulk",
                    span_start=at.replace(tzinfo=UTC),
                    span_end=at.replace(hour=10, tzinfo=UTC),
                )
            )
            await db.commit()
    finally:
        await engine.dispose()
    assert await stamps.read(alice_id) != before[alice_id]
    assert await stamps.read(bob_id) != before[bob_id]


async def test_a_session_that_cannot_reach_redis_cannot_commit_a_calendar_change(
    alice: Caller, settings: Settings
) -> None:
    # An engine not made by aiwfe's create_engine and no stamps in the session: no way to bump.
    engine = create_async_engine(settings.database_url.get_secret_value())
    try:
        async with AsyncSession(engine) as db:
            db.add(Calendar(owner_id=await user_id(alice), name="Hidden"))
            with pytest.raises(RuntimeError, match="cannot reach Redis"):
                await db.commit()
    finally:
        await engine.dispose()
    response = await alice.get("/api/v1/calendars")
    assert [c["name"] for c in response.json()] == []


async def test_a_hot_path_write_that_cannot_reach_redis_is_refused_before_it_writes(
    alice: Caller, settings: Settings
) -> None:
    calendar = await alice.calendar()
    engine = create_async_engine(settings.database_url.get_secret_value())
    try:
        async with AsyncSession(engine) as db:
            with pytest.raises(RuntimeError, match="cannot reach Redis"):
                async with hot_write(db, await user_id(alice)) as conn:
                    await conn.execute("UPDATE calendars SET name = 'Renamed'")
    finally:
        await engine.dispose()
    response = await alice.get(f"/api/v1/calendars/{calendar['id']}")
    assert response.json()["name"] == calendar["name"]


async def test_a_hot_path_write_bumps_its_owner_after_the_commit(
    alice: Caller, bob: Caller, settings: Settings
) -> None:
    alice_id, bob_id = await user_id(alice), await user_id(bob)
    redis = create_redis(settings)
    stamps = CalendarStamps(redis, settings)
    engine = create_engine(settings)
    try:
        before = {alice_id: await stamps.read(alice_id), bob_id: await stamps.read(bob_id)}
        async with create_sessionmaker(engine)() as db, hot_write(db, alice_id) as conn:
            await conn.execute("SELECT 1")
            assert await stamps.read(alice_id) == before[alice_id]  # not before the commit
        assert await stamps.read(alice_id) != before[alice_id]
        assert await stamps.read(bob_id) == before[bob_id]
    finally:
        await engine.dispose()
        await redis.aclose()


async def _behind_the_hooks(settings: Settings, summary: str) -> None:
    """Change every event with plain SQL on a connection of its own: no session, so no bump."""
    engine = create_async_engine(settings.database_url.get_secret_value())
    try:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE calendar_events SET summary = :s"), {"s": summary})
    finally:
        await engine.dispose()


async def test_after_redis_is_flushed_no_page_cached_before_is_read(
    api: Api, alice: Caller, settings: Settings
) -> None:
    calendar = await alice.calendar(time_zone="Europe/Berlin")
    await alice.event(calendar["id"], **WEEKLY)
    await cached_month(api, alice)  # in this replica's memory, named by the stamp of now
    await _behind_the_hooks(settings, "Unseen by any hook")
    await api.app.state.redis.flushdb()
    signed_in = Caller(
        api.http, {"Authorization": f"Bearer {await login_token(api.http, 'alice@example.com')}"}
    )
    assert summaries(await month(signed_in)) == ["Unseen by any hook"] * 5


@pytest.fixture
def own_redis() -> Any:
    """A Redis of this test alone (persisted as deployed: AOF), to stop and start again."""
    root = Path(tempfile.mkdtemp(prefix="aiwfe-test-stamp-redis-"))
    (port,) = free_ports(1)
    server = RedisServer(root, port, "stamp-test-password")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


async def test_a_redis_restarted_from_an_older_disk_state_never_serves_a_page_cached_before(
    own_redis: RedisServer, settings: Settings
) -> None:
    """Redis comes back with a stamp from before a write (a lost AOF second, a failed-over replica): the
    stamp is of another run of the server, so the replica's memory page named by it is not read."""
    settings = settings.model_copy(update={"redis_url": SecretStr(own_redis.url)})
    async with app_client(settings) as http:
        carol = await sign_up(http, "carol@example.com")
        calendar = await carol.calendar(time_zone="Europe/Berlin")
        event_ = await carol.event(calendar["id"], **WEEKLY)
        first = await month(carol)
        assert await month(carol) == first  # cached in this replica's memory

        own_redis.stop()  # a clean stop: the AOF holds the stamp that names that page
        saved = own_redis.datadir.with_name(own_redis.datadir.name + "-saved")
        shutil.copytree(own_redis.datadir, saved)
        own_redis.start()

        response = await carol.patch(f"/api/v1/events/{event_['id']}", json={"summary": "Changed"})
        assert response.status_code == 200, response.text

        own_redis.stop()  # back to the state before the write (and before its bump)
        shutil.rmtree(own_redis.datadir)
        shutil.move(saved, own_redis.datadir)
        own_redis.start()

        assert summaries(await month(carol)) == ["Changed"] * 5
