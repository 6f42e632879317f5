"""Helpers for the calendar sync tests: a real HTTP server for ICS URLs, running one sync in-process, and
the API with enqueued syncs recorded instead of sent (so a running worker cannot race the test).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select
from tests.auth.conftest import Api
from tests.calendar.conftest import Caller
from tests.conftest import _reset

from aiwfe.calendar.models import Event
from aiwfe.calendar.sync import engine
from aiwfe.calendar.sync.deps import sync_enqueuer
from aiwfe.core.db import create_engine, create_sessionmaker
from aiwfe.core.settings import Settings
from aiwfe_stack.servers.smtp_sink import SmtpSink


@dataclass
class Served:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class IcsServer:
    """A real HTTP server on loopback; ``serve(path, ...)`` sets what a path answers. It honours
    If-None-Match against the ETag it serves, and records every request's headers."""

    def __init__(self) -> None:
        self.routes: dict[str, Served] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                headers = {k: v for k, v in self.headers.items()}
                server.requests.append((self.path, headers))
                served = server.routes.get(self.path, Served(status=404, body=b"not here"))
                if served.delay:
                    time.sleep(served.delay)
                etag = served.headers.get("ETag")
                if served.status == 200 and etag and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(served.status)
                for name, value in served.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(served.body)))
                self.end_headers()
                self.wfile.write(served.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def serve(self, path: str, body: bytes = b"", status: int = 200, **kwargs: Any) -> None:
        self.routes[path] = Served(status=status, body=body, **kwargs)

    def hits(self, path: str) -> list[dict[str, str]]:
        return [headers for hit, headers in self.requests if hit == path]


@pytest.fixture
def ics_server() -> Iterator[IcsServer]:
    server = IcsServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


LOOPBACK = "127.0.0.1/32"  # the test servers' address, and nothing else of loopback


@pytest.fixture
def loopback_settings(base_settings: Settings, smtp_sink: SmtpSink) -> Iterator[Settings]:
    """The test settings with sources on 127.0.0.1 allowed (the API checks a source when it is created)."""
    yield base_settings.model_copy(update={"outbound_allow_networks": LOOPBACK})
    _reset(base_settings, smtp_sink.folder)


@pytest.fixture
def sync_settings(settings: Settings) -> Settings:
    """Settings for in-process sync runs: sources on 127.0.0.1 allowed, short timeouts and backoff."""
    return settings.model_copy(
        update={
            "outbound_allow_networks": LOOPBACK,
            "calendar_sync_timeout_seconds": 2.0,
            "calendar_sync_backoff_seconds": 0.01,
        }
    )


@pytest.fixture
def enqueued(api: Api) -> list[uuid.UUID]:
    """Syncs the API enqueues, recorded instead of sent to the broker."""
    calls: list[uuid.UUID] = []

    def recorder() -> Any:
        async def enqueue(calendar_id: uuid.UUID) -> None:
            calls.append(calendar_id)

        return enqueue

    api.app.dependency_overrides[sync_enqueuer] = recorder
    return calls


async def run_sync(settings: Settings, calendar_id: str | uuid.UUID) -> str:
    db_engine = create_engine(settings)
    try:
        return await engine.run(create_sessionmaker(db_engine), settings, uuid.UUID(str(calendar_id)))
    finally:
        await db_engine.dispose()


async def event_rows(
    settings: Settings, calendar_id: str | uuid.UUID
) -> list[tuple[str, str | None, str, str]]:
    """(uid, recurrence_id, summary, id) of every event row of a calendar, sorted."""
    db_engine = create_engine(settings)
    try:
        async with create_sessionmaker(db_engine)() as db:
            rows = await db.scalars(select(Event).where(Event.calendar_id == uuid.UUID(str(calendar_id))))
            return sorted(
                ((r.uid, r.recurrence_id, r.summary, str(r.id)) for r in rows),
                key=lambda t: (t[0], t[1] or ""),
            )
    finally:
        await db_engine.dispose()


async def calendar_of(caller: Caller, calendar_id: str) -> dict[str, Any]:
    response = await caller.get(f"/api/v1/calendars/{calendar_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def wait_for_status(caller: Caller, calendar_id: str, wanted: set[str]) -> dict[str, Any]:
    """Poll the calendar until its sync_status is one of ``wanted`` (the worker runs the sync)."""
    deadline = time.monotonic() + 60
    while True:
        body = await calendar_of(caller, calendar_id)
        if body["sync_status"] in wanted:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"sync status stayed {body['sync_status']}: {body}")
        await asyncio.sleep(0.2)


def vcalendar(*events: str) -> bytes:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" + "".join(events) + "END:VCALENDAR\r\n"
    ).encode()


def vevent(
    uid: str, summary: str, start: str = "20260310T090000Z", end: str = "20260310T100000Z", extra: str = ""
) -> str:
    return (
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start}\r\nDTEND:{end}\r\n"
        f"SUMMARY:{summary}\r\n{extra}END:VEVENT\r\n"
    )
