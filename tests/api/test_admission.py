"""Admission: under overload a request waits its turn before it starts, or is turned away with a clean 503
before any of its work is done; it never fails half done on an exhausted database pool."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response

from aiwfe.api.app import create_app
from aiwfe.core.admission import Gate
from aiwfe.core.settings import Settings

PASSWORD = "correct horse battery staple 42"


@pytest.fixture
async def one_slot(settings: Settings) -> AsyncIterator[tuple[FastAPI, AsyncClient]]:
    narrow = settings.model_copy(update={"api_max_concurrent_requests": 1, "api_admission_wait_seconds": 0.5})
    app = create_app(narrow)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as http,
    ):
        yield app, http


def _register(http: AsyncClient, email: str) -> asyncio.Task[Response]:
    body = {"email": email, "password": PASSWORD}
    return asyncio.ensure_future(http.post("/api/v1/auth/register", json=body))


async def test_a_request_past_the_deadline_is_shed_before_it_starts(
    one_slot: tuple[FastAPI, AsyncClient],
) -> None:
    app, http = one_slot
    gate: Gate = app.state.admission
    await gate.slots.acquire()  # a request in progress holds the only slot
    try:
        shed = await http.post(
            "/api/v1/auth/register", json={"email": "shed@example.com", "password": PASSWORD}
        )
    finally:
        gate.slots.release()
    assert shed.status_code == 503
    assert shed.headers["retry-after"] == "2"
    assert shed.headers["content-type"] == "application/problem+json"
    assert shed.json()["type"].endswith("/overloaded")
    assert shed.headers["x-request-id"]  # logged and counted like any other answer
    # Nothing of it was done: the same address signs up now, not "already registered".
    again = await http.post("/api/v1/auth/register", json={"email": "shed@example.com", "password": PASSWORD})
    assert again.status_code == 201, again.text


async def test_a_request_waits_its_turn_and_is_served(one_slot: tuple[FastAPI, AsyncClient]) -> None:
    app, http = one_slot
    gate: Gate = app.state.admission
    await gate.slots.acquire()
    waiting = _register(http, "queued@example.com")
    await asyncio.sleep(0.1)
    assert not waiting.done(), "it waits while the slot is taken"
    gate.slots.release()
    response = await waiting
    assert response.status_code == 201


async def test_probes_and_metrics_answer_while_every_slot_is_taken(
    one_slot: tuple[FastAPI, AsyncClient],
) -> None:
    app, http = one_slot
    gate: Gate = app.state.admission
    await gate.slots.acquire()
    try:
        assert (await http.get("/health")).status_code == 200
        metrics = await http.get("/metrics")
        assert metrics.status_code == 200
    finally:
        gate.slots.release()
    assert "aiwfe_http_requests_shed_total" in metrics.text


def test_the_limit_is_the_database_pools_size_by_default(settings: Settings) -> None:
    sized = settings.model_copy(update={"db_pool_size": 7, "db_max_overflow": 5})
    assert Gate.for_settings(sized).limit == 12
    assert Gate.for_settings(sized.model_copy(update={"api_max_concurrent_requests": 3})).limit == 3


async def test_a_sign_in_gives_its_slot_to_others_while_its_password_hash_waits(
    one_slot: tuple[FastAPI, AsyncClient],
) -> None:
    app, http = one_slot
    account = {"email": "hash@example.com", "password": PASSWORD}
    registered = await http.post("/api/v1/auth/register", json=account)
    assert registered.status_code == 201
    # Keep every thread of the real hashing pool busy: the sign-in's hash waits in its queue.
    hasher = app.state.auth.hasher
    release = threading.Event()
    blockers = [hasher._pool.submit(release.wait) for _ in range(app.state.settings.argon2_max_concurrent)]
    login = {"email": "hash@example.com", "password": PASSWORD, "mode": "token"}
    signing_in = asyncio.ensure_future(http.post("/api/v1/auth/login", json=login))
    try:
        await asyncio.sleep(0.2)
        assert not signing_in.done(), "the sign-in waits for its hash"
        # The only slot is free for another request meanwhile (it would be shed after 0.5 s otherwise).
        other = await http.get("/api/v1/me")
        assert other.status_code == 401  # served (not signed in), not shed with a 503
    finally:
        release.set()
    signed_in = await signing_in
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["session_token"]
    for blocker in blockers:
        blocker.result(timeout=5)
