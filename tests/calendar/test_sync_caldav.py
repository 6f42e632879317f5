"""CalDAV sync against a real Radicale, both ways: the first sync by the worker, incremental pulls with the
sync-token (and the ctag short cut), the full-listing fallback when the token is refused, local edits,
creations and deletions pushed with If-Match / If-None-Match, the remote winning a conflict, and a bad
password or a missing collection leaving the calendar untouched."""

from __future__ import annotations

import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from tests.calendar import sync_support
from tests.calendar.conftest import Caller
from tests.calendar.sync_support import calendar_of, event_rows, run_sync, vcalendar, vevent, wait_for_status
from tests.processes import RunningProcess

from aiwfe.calendar.sync.models import SyncSource
from aiwfe.core.db import create_engine, create_sessionmaker
from aiwfe.core.settings import Settings
from aiwfe_stack.servers.radicale import Radicale

enqueued = sync_support.enqueued
sync_settings = sync_support.sync_settings
settings = sync_support.loopback_settings
MARCH = {"start": "2026-03-01T00:00:00Z", "end": "2026-04-01T00:00:00Z"}
PASSWORD = "radicale-secret"


class Collection:
    """A fresh Radicale user and calendar, and plain HTTP on its resources."""

    def __init__(self, radicale: Radicale) -> None:
        self.user = f"u{uuid.uuid4().hex[:10]}"
        self.url = radicale.create_calendar(self.user, PASSWORD, "cal")
        self.auth = (self.user, PASSWORD)

    def put(self, name: str, body: bytes) -> None:
        response = httpx.put(
            self.url + name, content=body, auth=self.auth, headers={"Content-Type": "text/calendar"}
        )
        assert response.status_code in (201, 204), response.text

    def delete(self, name: str) -> None:
        assert httpx.delete(self.url + name, auth=self.auth).status_code in (200, 204)

    def summaries(self) -> dict[str, str]:
        """UID -> SUMMARY of every object in the collection (read with a PROPFIND + GETs)."""
        body = '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>'
        listing = httpx.request(
            "PROPFIND", self.url, content=body, auth=self.auth, headers={"Depth": "1"}
        ).text
        found: dict[str, str] = {}
        for href in sorted(set(part.split("</")[0] for part in listing.split("<href>")[1:])):
            if not href.endswith(".ics"):
                continue
            text = httpx.get(httpx.URL(self.url).join(href), auth=self.auth).text
            fields = dict(
                line.split(":", 1) for line in text.replace("\r\n ", "").splitlines() if ":" in line
            )
            found[fields["UID"]] = fields.get("SUMMARY", "")
        return found


async def _caldav_calendar(
    caller: Caller, collection: Collection, password: str = PASSWORD
) -> dict[str, Any]:
    return await caller.calendar(
        name="Team", source="caldav", source_url=collection.url, username=collection.user, password=password
    )


async def _source(settings: Settings, calendar_id: str) -> SyncSource:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as db:
            source = await db.get(SyncSource, uuid.UUID(calendar_id))
            assert source is not None
            return source
    finally:
        await engine.dispose()


async def _set_token(settings: Settings, calendar_id: str, token: str) -> None:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as db:
            source = await db.get(SyncSource, uuid.UUID(calendar_id))
            assert source is not None
            source.sync_token, source.ctag = token, None
            await db.commit()
    finally:
        await engine.dispose()


async def test_a_caldav_calendar_gets_its_first_sync_from_the_worker(
    worker: RunningProcess, alice: Caller, radicale: Radicale
) -> None:
    collection = Collection(radicale)
    collection.put("a.ics", vcalendar(vevent("a", "Planning")))
    collection.put("b.ics", vcalendar(vevent("b", "Retro", extra="RRULE:FREQ=WEEKLY;COUNT=2\r\n")))
    created = await _caldav_calendar(alice, collection)
    assert created["read_only"] is False
    assert "password" not in created
    assert "username" not in created
    synced = await wait_for_status(alice, created["id"], {"ok", "error"})
    assert synced["sync_status"] == "ok", synced["sync_error"]
    items = await alice.occurrences(**MARCH, calendar=created["id"])
    assert sorted(i["summary"] for i in items) == ["Planning", "Retro", "Retro"]


async def test_the_password_is_stored_encrypted(
    alice: Caller, radicale: Radicale, sync_settings: Settings, enqueued: list[uuid.UUID]
) -> None:
    calendar = await _caldav_calendar(alice, Collection(radicale))
    source = await _source(sync_settings, calendar["id"])
    assert source.password_encrypted
    assert PASSWORD not in source.password_encrypted


async def test_pulls_are_incremental_with_the_sync_token(
    alice: Caller, radicale: Radicale, sync_settings: Settings, enqueued: list[uuid.UUID]
) -> None:
    collection = Collection(radicale)
    collection.put("a.ics", vcalendar(vevent("a", "Planning")))
    collection.put("b.ics", vcalendar(vevent("b", "Retro")))
    calendar = await _caldav_calendar(alice, collection)
    assert await run_sync(sync_settings, calendar["id"]) == "changed"
    first = await _source(sync_settings, calendar["id"])
    assert first.sync_token
    ids = {uid: row_id for uid, _, _, row_id in await event_rows(sync_settings, calendar["id"])}
    version = (await calendar_of(alice, calendar["id"]))["version"]

    # Nothing changed remotely: the ctag says so and the version stays.
    assert await run_sync(sync_settings, calendar["id"]) == "unchanged"
    assert (await calendar_of(alice, calendar["id"]))["version"] == version

    collection.put("b.ics", vcalendar(vevent("b", "Retro (moved)")))
    collection.put("c.ics", vcalendar(vevent("c", "Demo")))
    collection.delete("a.ics")
    assert await run_sync(sync_settings, calendar["id"]) == "changed"
    second = await _source(sync_settings, calendar["id"])
    assert second.sync_token != first.sync_token
    rows = await event_rows(sync_settings, calendar["id"])
    assert [(uid, summary) for uid, _, summary, _ in rows] == [("b", "Retro (moved)"), ("c", "Demo")]
    assert dict((uid, row_id) for uid, _, _, row_id in rows)["b"] == ids["b"]
    assert (await calendar_of(alice, calendar["id"]))["version"] > version


async def test_a_refused_sync_token_falls_back_to_the_full_listing(
    alice: Caller, radicale: Radicale, sync_settings: Settings, enqueued: list[uuid.UUID]
) -> None:
    collection = Collection(radicale)
    collection.put("a.ics", vcalendar(vevent("a", "Planning")))
    collection.put("b.ics", vcalendar(vevent("b", "Retro")))
    calendar = await _caldav_calendar(alice, collection)
    await run_sync(sync_settings, calendar["id"])
    collection.delete("a.ics")
    await _set_token(sync_settings, calendar["id"], "http://radicale.org/ns/sync/unknown")
    assert await run_sync(sync_settings, calendar["id"]) == "changed"
    assert [uid for uid, _, _, _ in await event_rows(sync_settings, calendar["id"])] == ["b"]
    assert (await calendar_of(alice, calendar["id"]))["sync_status"] == "ok"


async def test_local_edits_creations_and_deletions_are_pushed(
    alice: Caller, radicale: Radicale, sync_settings: Settings, enqueued: list[uuid.UUID]
) -> None:
    collection = Collection(radicale)
    collection.put("a.ics", vcalendar(vevent("a", "Planning")))
    collection.put("b.ics", vcalendar(vevent("b", "Retro")))
    calendar = await _caldav_calendar(alice, collection)
    await run_sync(sync_settings, calendar["id"])
    ids = {uid: row_id for uid, _, _, row_id in await event_rows(sync_settings, calendar["id"])}

    edited = await alice.patch(f"/api/v1/events/{ids['a']}", json={"summary": "Planning (room 2)"})
    assert edited.status_code == 200, edited.text
    assert (await alice.delete(f"/api/v1/events/{ids['b']}")).status_code == 204
    await alice.event(calendar["id"], uid="local-1", summary="Made here", start={"date": "2026-03-12"})

    assert await run_sync(sync_settings, calendar["id"]) == "unchanged"
    assert collection.summaries() == {"a": "Planning (room 2)", "local-1": "Made here"}
    synced = await calendar_of(alice, calendar["id"])
    assert synced["sync_status"] == "ok"
    # Pushed changes are not pushed again.
    assert await run_sync(sync_settings, calendar["id"]) == "unchanged"
    assert collection.summaries() == {"a": "Planning (room 2)", "local-1": "Made here"}


async def test_when_both_sides_changed_the_remote_wins(
    alice: Caller, radicale: Radicale, sync_settings: Settings, enqueued: list[uuid.UUID]
) -> None:
    collection = Collection(radicale)
    collection.put("a.ics", vcalendar(vevent("a", "Planning")))
    calendar = await _caldav_calendar(alice, collection)
    await run_sync(sync_settings, calendar["id"])
    ((_, _, _, event_id),) = await event_rows(sync_settings, calendar["id"])
    collection.put("a.ics", vcalendar(vevent("a", "Planning (theirs)")))
    await alice.patch(f"/api/v1/events/{event_id}", json={"summary": "Planning (ours)"})
    await run_sync(sync_settings, calendar["id"])
    assert collection.summaries() == {"a": "Planning (theirs)"}
    assert [summary for _, _, summary, _ in await event_rows(sync_settings, calendar["id"])] == [
        "Planning (theirs)"
    ]


async def test_a_wrong_password_or_missing_collection_is_an_error_that_leaves_the_events(
    alice: Caller, radicale: Radicale, sync_settings: Settings, enqueued: list[uuid.UUID]
) -> None:
    collection = Collection(radicale)
    collection.put("a.ics", vcalendar(vevent("a", "Planning")))
    calendar = await _caldav_calendar(alice, collection)
    await run_sync(sync_settings, calendar["id"])
    rows = await event_rows(sync_settings, calendar["id"])
    version = (await calendar_of(alice, calendar["id"]))["version"]

    radicale.add_user(collection.user, "changed-password")
    assert await run_sync(sync_settings, calendar["id"]) == "error"
    failed = await calendar_of(alice, calendar["id"])
    assert "refused the credentials" in failed["sync_error"]
    assert failed["version"] == version
    assert await event_rows(sync_settings, calendar["id"]) == rows

    radicale.add_user(collection.user, PASSWORD)
    missing = Collection(radicale)
    gone = await alice.calendar(
        name="Gone",
        source="caldav",
        source_url=missing.url.replace("/cal/", "/nothing-here/"),
        username=missing.user,
        password=PASSWORD,
    )
    assert await run_sync(sync_settings, gone["id"]) == "error"
    assert "HTTP 404" in (await calendar_of(alice, gone["id"]))["sync_error"]
    assert await run_sync(sync_settings, calendar["id"]) == "unchanged"
    assert (await calendar_of(alice, calendar["id"]))["sync_status"] == "ok"


async def test_a_malformed_remote_object_is_an_error_and_nothing_is_applied(
    alice: Caller, radicale: Radicale, sync_settings: Settings, enqueued: list[uuid.UUID]
) -> None:
    collection = Collection(radicale)
    collection.put("a.ics", vcalendar(vevent("a", "Planning")))
    calendar = await _caldav_calendar(alice, collection)
    await run_sync(sync_settings, calendar["id"])
    rows = await event_rows(sync_settings, calendar["id"])
    collection.put("b.ics", vcalendar(vevent("b", "Fine")))
    # Valid iCalendar (Radicale takes it) but beyond what this server accepts (years 1900-2200).
    collection.put("c.ics", vcalendar(vevent("c", "Far", start="25000310T090000Z", end="25000310T100000Z")))
    assert await run_sync(sync_settings, calendar["id"]) == "error"
    failed = await calendar_of(alice, calendar["id"])
    assert "c.ics" in failed["sync_error"]
    assert await event_rows(sync_settings, calendar["id"]) == rows


class _NotCaldav(BaseHTTPRequestHandler):
    """A web server answering every request with a small HTML page."""

    def _page(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"<html><body>Welcome</body></html>"
        self.send_response(200 if self.command == "GET" else 207)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PROPFIND = do_REPORT = _page

    def log_message(self, format: str, *args: Any) -> None:
        pass


async def test_a_server_that_is_not_caldav_is_an_error_in_words(
    alice: Caller, sync_settings: Settings, enqueued: list[uuid.UUID]
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotCaldav)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        calendar = await alice.calendar(
            name="Web page",
            source="caldav",
            source_url=f"http://127.0.0.1:{server.server_address[1]}/calendar/",
            username="me",
            password="pw",
        )
        assert await run_sync(sync_settings, calendar["id"]) == "error"
        failed = await calendar_of(alice, calendar["id"])
        assert "did not answer like a CalDAV server" in failed["sync_error"]
    finally:
        server.shutdown()
        server.server_close()


class _Recorder(BaseHTTPRequestHandler):
    """Answers every method: a redirect when the server has a ``location``, else 200; records each hit."""

    def _answer(self) -> None:
        server: Any = self.server
        server.hits.append((self.command, self.path))
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if server.location:
            self.send_response(server.status)
            self.send_header("Location", server.location)
        else:
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_PUT = do_DELETE = do_PROPFIND = do_REPORT = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _recorder(address: str, status: int = 0, location: str = "") -> ThreadingHTTPServer:
    server: Any = ThreadingHTTPServer((address, 0), _Recorder)
    server.hits, server.status, server.location = [], status, location
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server  # type: ignore[no-any-return]


@pytest.mark.parametrize("status", [302, 307, 308])
async def test_a_server_redirecting_to_an_internal_address_is_refused_and_nothing_is_fetched_there(
    alice: Caller, sync_settings: Settings, enqueued: list[uuid.UUID], status: int
) -> None:
    # 127.0.0.1 is allowed (it stands for a public server); 127.0.0.2 is loopback outside the allowance:
    # an internal service such as the metadata endpoint or the API's own port.
    internal = _recorder("127.0.0.2")
    target = f"http://127.0.0.2:{internal.server_address[1]}/latest/meta-data/"
    public = _recorder("127.0.0.1", status, target)
    try:
        calendar = await alice.calendar(
            name="Bouncer",
            source="caldav",
            source_url=f"http://127.0.0.1:{public.server_address[1]}/calendar/",
            username="me",
            password="pw",
        )
        assert await run_sync(sync_settings, calendar["id"]) == "error"
        failed = await calendar_of(alice, calendar["id"])
        assert "127.0.0.2 is on a private or local network" in failed["sync_error"]
        assert public.hits  # type: ignore[attr-defined]
        assert internal.hits == []  # type: ignore[attr-defined]
    finally:
        for server in (public, internal):
            server.shutdown()
            server.server_close()


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/dav/cal/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[64:ff9b::7f00:1]/dav/cal/",  # NAT64 of 127.0.0.1
        "http://127.0.0.2/dav/cal/",  # loopback beyond the one allowed address
        "http://user:pw@cal.example.com/dav/",
        "file:///etc/passwd",
    ],
)
async def test_a_source_url_that_will_not_be_called_is_refused_when_the_calendar_is_created(
    alice: Caller, enqueued: list[uuid.UUID], url: str
) -> None:
    response = await alice.post(
        "/api/v1/calendars",
        json={"name": "Inward", "source": "caldav", "source_url": url, "username": "me", "password": "pw"},
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["status"] == 422
    assert "source_url" in problem["detail"]
    assert enqueued == []
    listed = await alice.get("/api/v1/calendars")
    assert all(c["name"] != "Inward" for c in listed.json())
