"""Live job progress as server-sent events, read with httpx from real API replicas and the real worker."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from httpx import AsyncClient, Response
from sqlalchemy import update
from sqlalchemy.ext.asyncio import create_async_engine
from tests.jobs.conftest import Replica
from tests.jobs.test_routes import add_import, new_calendar, signed_in
from tests.processes import RunningProcess

from aiwfe.calendar.models import CalendarImport, ImportStatus
from aiwfe.core.settings import Settings

# A safety net so a broken stream fails the test instead of hanging it; not a timing assertion.
STREAM_LIMIT = 90


@dataclass
class Message:
    event: str | None = None
    data: dict[str, Any] | None = None
    comment: str | None = None
    retry: int | None = None


def body(message: Message) -> dict[str, Any]:
    assert message.data is not None, message
    return message.data


async def messages(response: Response) -> AsyncIterator[Message]:
    """Parse a text/event-stream body as it arrives."""
    current = Message()
    async for line in response.aiter_lines():
        if line == "":
            if current != Message():
                yield current
            current = Message()
        elif line.startswith(":"):
            yield Message(comment=line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                current.event = value
            elif name == "data":
                current.data = json.loads(value)
            elif name == "retry":
                current.retry = int(value)


def _many(count: int) -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:test"]
    for n in range(count):
        lines += [
            "BEGIN:VEVENT",
            f"UID:bulk-{n}@example.com",
            "DTSTAMP:20240101T000000Z",
            f"DTSTART:202403{n % 28 + 1:02d}T{n % 24:02d}0000Z",
            "DURATION:PT1H",
            f"SUMMARY:Bulk {n}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


async def set_import(settings: Settings, job_id: object, **values: object) -> None:
    engine = create_async_engine(settings.database_url.get_secret_value())
    try:
        async with engine.begin() as conn:
            await conn.execute(update(CalendarImport).where(CalendarImport.id == job_id).values(**values))
    finally:
        await engine.dispose()


async def test_an_import_streams_progress_then_done_from_another_replica(
    worker: RunningProcess, replica_a: Replica, replica_b: Replica, settings: Settings
) -> None:
    async with (
        AsyncClient(base_url=replica_b.url, timeout=30) as b,
        AsyncClient(base_url=replica_a.url, timeout=30) as a,
    ):
        alice = await signed_in(b, "alice@example.com")
        calendar = await new_calendar(b, alice)
        started = await b.post(
            f"/api/v1/calendars/{calendar}/import",
            content=_many(1200),
            headers={**alice, "Content-Type": "text/calendar"},
        )
        assert started.status_code == 202, started.text
        job_id = started.json()["id"]
        received: list[Message] = []
        async with (
            asyncio.timeout(STREAM_LIMIT),
            a.stream("GET", f"/api/v1/jobs/{job_id}/events", headers=alice) as response,
        ):
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-cache"
            received = [m async for m in messages(response) if m.event]
        assert received[0].retry is not None
        assert [m.event for m in received[:-1]] == ["progress"] * (len(received) - 1)
        done = received[-1]
        assert done.event == "done"
        assert (body(done)["status"], body(done)["processed"], body(done)["total"]) == (
            "succeeded",
            1200,
            1200,
        )
        assert body(done)["result"]["created"] == 1200
        seen = [m.data["processed"] for m in received if m.data]
        assert seen == sorted(seen)
        assert (await a.get(f"/api/v1/jobs/{job_id}", headers=alice)).json() == body(done)


async def test_a_stream_sends_each_change_of_the_row_and_heartbeats_between(
    replica_a: Replica, settings: Settings
) -> None:
    async with AsyncClient(base_url=replica_a.url, timeout=30) as http:
        alice = await signed_in(http, "alice@example.com")
        calendar = await new_calendar(http, alice)
        job_id = await add_import(settings, calendar, status=ImportStatus.RUNNING, total=100)
        async with (
            asyncio.timeout(STREAM_LIMIT),
            http.stream("GET", f"/api/v1/jobs/{job_id}/events", headers=alice) as response,
        ):
            stream = messages(response)
            first = await anext(stream)
            assert (first.event, body(first)["percent"]) == ("progress", 0)
            heartbeat = await anext(stream)
            assert heartbeat.comment == "heartbeat"
            await set_import(settings, job_id, processed=40)
            changed = await anext(m async for m in stream if m.event)
            assert (body(changed)["processed"], body(changed)["percent"]) == (40, 40)
            await set_import(settings, job_id, status=ImportStatus.FAILED, error="the file broke")
            last = await anext(m async for m in stream if m.event)
            assert last.event == "progress"
            assert body(last)["error"] == "the file broke"
            done = await anext(stream)
            assert done.event == "done"
            assert body(done)["status"] == "failed"
            assert [m async for m in stream] == []
    assert (await _logged_end(replica_a, job_id))["reason"] == "done"


async def test_a_stream_ends_after_its_longest_duration_without_done(
    replica_b: Replica, settings: Settings
) -> None:
    async with AsyncClient(base_url=replica_b.url, timeout=30) as http:
        alice = await signed_in(http, "alice@example.com")
        job_id = await add_import(settings, await new_calendar(http, alice))
        async with (
            asyncio.timeout(STREAM_LIMIT),
            http.stream("GET", f"/api/v1/jobs/{job_id}/events", headers=alice) as response,
        ):
            received = [m async for m in messages(response)]
        assert received[0].event == "progress"
        assert all(m.event != "done" for m in received)
    assert (await _logged_end(replica_b, job_id))["reason"] == "max_duration"


async def _logged_end(replica: Replica, job_id: object) -> dict[str, Any]:
    """The replica's log line saying why the stream of ``job_id`` ended (waits for it to be written)."""
    async with asyncio.timeout(STREAM_LIMIT):
        while True:
            for line in replica.log.read_text(errors="replace").splitlines():
                if '"job_stream_ended"' in line and str(job_id) in line:
                    entry: dict[str, Any] = json.loads(line)
                    return entry
            await asyncio.sleep(0.1)


async def test_the_server_stops_streaming_when_the_client_leaves(
    replica_a: Replica, settings: Settings
) -> None:
    async with AsyncClient(base_url=replica_a.url, timeout=30) as http:
        alice = await signed_in(http, "alice@example.com")
        job_id = await add_import(settings, await new_calendar(http, alice), status=ImportStatus.RUNNING)
        async with (
            asyncio.timeout(STREAM_LIMIT),
            http.stream("GET", f"/api/v1/jobs/{job_id}/events", headers=alice) as response,
        ):
            first = await anext(messages(response))
            assert first.event == "progress"
    assert (await _logged_end(replica_a, job_id))["reason"] == "client_left"


async def test_a_stream_ends_when_its_session_is_signed_out(replica_a: Replica, settings: Settings) -> None:
    async with AsyncClient(base_url=replica_a.url, timeout=30) as http:
        alice = await signed_in(http, "alice@example.com")
        job_id = await add_import(settings, await new_calendar(http, alice), status=ImportStatus.RUNNING)
        async with (
            asyncio.timeout(STREAM_LIMIT),
            http.stream("GET", f"/api/v1/jobs/{job_id}/events", headers=alice) as response,
        ):
            stream = messages(response)
            assert (await anext(stream)).event == "progress"
            assert (await http.post("/api/v1/auth/logout", headers=alice)).status_code == 204
            rest = [m async for m in stream]
        assert all(m.event != "done" for m in rest)
    assert (await _logged_end(replica_a, job_id))["reason"] == "session_ended"


async def test_a_user_holds_only_so_many_streams_at_once(replica_a: Replica, settings: Settings) -> None:
    limit = settings.jobs_events_max_streams_per_user  # the replica runs with the default too
    async with AsyncClient(base_url=replica_a.url, timeout=30) as http, AsyncExitStack() as streams:
        alice = await signed_in(http, "alice@example.com")
        job_id = await add_import(settings, await new_calendar(http, alice), status=ImportStatus.RUNNING)
        url = f"/api/v1/jobs/{job_id}/events"
        async with asyncio.timeout(STREAM_LIMIT):
            for _ in range(limit):
                response = await streams.enter_async_context(http.stream("GET", url, headers=alice))
                assert response.status_code == 200
            refused = await http.get(url, headers=alice)
            assert refused.status_code == 429
            assert refused.json()["type"].endswith("/too-many-streams")
            await streams.aclose()
            # A closed stream gives its place back once the server has noticed the client left.
            while True:
                async with http.stream("GET", url, headers=alice) as again:
                    if again.status_code == 200:
                        break
                    assert again.status_code == 429
                await asyncio.sleep(0.1)
