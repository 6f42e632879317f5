"""CalDAV tests: the real app served by uvicorn on a loopback port (the ``caldav`` client speaks HTTP, not
ASGI), accounts with app passwords, and a synchronous REST helper to check both sides hold the same data."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from tests.auth.conftest import PASSWORD

import caldav
from aiwfe.api.app import create_app
from aiwfe.core.settings import Settings
from aiwfe_stack.ports import free_ports


@dataclass
class Account:
    email: str
    user_id: str
    app_password: str
    rest: httpx.Client
    base: str

    @property
    def dav_url(self) -> str:
        return f"{self.base}/dav/"

    def client(self) -> caldav.DAVClient:
        return caldav.DAVClient(url=self.dav_url, username=self.email, password=self.app_password)

    @property
    def auth(self) -> tuple[str, str]:
        return (self.email, self.app_password)

    def calendar(self, **fields: Any) -> dict[str, Any]:
        response = self.rest.post("/api/v1/calendars", json={"name": "Work", **fields})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def collection(self, calendar_id: str) -> str:
        return f"{self.base}/dav/calendars/{self.user_id}/{calendar_id}/"

    def occurrences(self, calendar_id: str, start: str, end: str) -> list[dict[str, Any]]:
        response = self.rest.get(
            "/api/v1/events", params={"start": start, "end": end, "calendar": calendar_id, "limit": 1000}
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


@dataclass
class LiveServer:
    base: str
    settings: Settings

    def verify(self, email: str) -> None:
        """Mark the address verified in the database (as if its owner had opened the mailed link): app
        passwords need a verified address, and this server runs no worker to send the mail."""

        async def update() -> None:
            engine = create_async_engine(self.settings.database_url.get_secret_value())
            async with engine.begin() as conn:
                await conn.execute(
                    text("UPDATE users SET email_verified_at = now() WHERE lower(email) = lower(:e)"),
                    {"e": email},
                )
            await engine.dispose()

        asyncio.run(update())

    def account(self, email: str, scopes: list[str] | None = None) -> Account:
        http = httpx.Client(base_url=self.base, timeout=30)
        response = http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
        assert response.status_code == 201, response.text
        login = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD, "mode": "token"})
        assert login.status_code == 200, login.text
        http.headers["Authorization"] = f"Bearer {login.json()['session_token']}"
        me = http.get("/api/v1/me")
        assert me.status_code == 200, me.text
        self.verify(email)
        token = http.post("/api/v1/me/tokens", json={"name": "phone", "scopes": scopes or ["caldav"]})
        assert token.status_code == 201, token.text
        return Account(email, me.json()["id"], token.json()["token"], http, self.base)


@pytest.fixture
def live(settings: Settings) -> Iterator[LiveServer]:
    """The app on a free port, in a thread of this process; stopped after the test."""
    yield from _serve(settings)


@pytest.fixture
def capped_live(settings: Settings) -> Iterator[LiveServer]:
    """The same, with room for two events per calendar."""
    yield from _serve(settings.model_copy(update={"calendar_max_events_per_calendar": 2}))


@pytest.fixture
def live_with(settings: Settings) -> Iterator[Callable[..., LiveServer]]:
    """A factory: the app served with these settings changed (``live_with(calendar_max_instances=10)``),
    each server stopped after the test."""
    with ExitStack() as servers:

        def start(**update: Any) -> LiveServer:
            return servers.enter_context(contextmanager(_serve)(settings.model_copy(update=update)))

        yield start


def _serve(settings: Settings) -> Iterator[LiveServer]:
    (port,) = free_ports(1)
    # Loopback sources are allowed, as for the test worker (tests/conftest.py).
    update = {"public_url": f"http://127.0.0.1:{port}", "outbound_allow_networks": "127.0.0.1/32"}
    app = create_app(settings.model_copy(update=update))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the test server stopped while starting"
        assert time.monotonic() < deadline, "the test server did not start in 30 s"
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", settings)
    finally:
        server.should_exit = True
        thread.join(30)
