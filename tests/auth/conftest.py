"""Helpers for auth tests: sign up and sign in through the real API, read the SMTP sink."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import EmailMessage

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from aiwfe.api.app import create_app
from aiwfe.core.clock import Clock
from aiwfe.core.settings import Settings
from aiwfe_stack.servers.smtp_sink import SmtpSink

PASSWORD = "correct horse battery staple 42"


async def register(
    client: AsyncClient, email: str, password: str = PASSWORD, **extra: str
) -> dict[str, object]:
    response = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": password, **extra}
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def login_token(client: AsyncClient, email: str, password: str = PASSWORD) -> str:
    """Sign in as an API client; returns the bearer session token."""
    response = await client.post(
        "/api/v1/auth/login", json={"email": email, "password": password, "mode": "token"}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["session_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait_for_mail(sink: SmtpSink, to: str, subject: str, timeout: float = 30.0) -> EmailMessage:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in sink.messages():
            if message["To"] == to and message["Subject"] == subject:
                return message
        time.sleep(0.2)
    raise AssertionError(f"no mail {subject!r} to {to} within {timeout:g}s")


def link_token(message: EmailMessage) -> str:
    body = message.get_content()
    match = re.search(r"token=([A-Za-z0-9_\-]+)", body)
    assert match, body
    return match.group(1)


@dataclass
class Api:
    http: AsyncClient
    app: FastAPI

    @property
    def clock(self) -> Clock:
        clock: Clock = self.app.state.auth.clock
        return clock


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    """The real app over ASGI, with its controllable clock reachable."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as http,
    ):
        yield Api(http, app)


async def make_admin(settings: Settings, email: str) -> None:
    """Make an existing user an administrator, straight in the database."""
    engine = create_async_engine(settings.database_url.get_secret_value())
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE users SET role = 'admin' WHERE lower(email) = lower(:e)"), {"e": email}
        )
    await engine.dispose()


async def mark_verified(api: Api, email: str) -> None:
    """Mark the address verified, straight in the database (as if its owner had opened the mailed link)."""
    async with api.app.state.engine.begin() as conn:
        await conn.execute(
            text("UPDATE users SET email_verified_at = now() WHERE lower(email) = lower(:e)"), {"e": email}
        )
