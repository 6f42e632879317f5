"""The pool pings a connection that sat idle (not every checkout), so a server-side disconnect while idle
never reaches a request."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from aiwfe.core import db
from aiwfe.core.settings import Settings


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _terminate(settings: Settings, pid: int) -> None:
    other = db.create_engine(settings)
    try:
        async with other.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await other.dispose()


async def test_an_idle_connection_killed_by_the_server_is_replaced(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "PING_IF_IDLE_SECONDS", 0.0)  # every returned connection counts as idle
    engine = db.create_engine(settings)
    try:
        pid = await _backend_pid(engine)
        await _terminate(settings, pid)
        assert await _backend_pid(engine) != pid  # the dead one was pinged, dropped and replaced
    finally:
        await engine.dispose()


async def test_a_busy_connection_is_not_pinged(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "PING_IF_IDLE_SECONDS", 3600.0)
    engine = db.create_engine(settings)
    pings = 0
    original = engine.sync_engine.dialect.do_ping

    def counting(connection: object) -> bool:
        nonlocal pings
        pings += 1
        return original(connection)

    monkeypatch.setattr(engine.sync_engine.dialect, "do_ping", counting)
    try:
        for _ in range(5):
            await _backend_pid(engine)
        assert pings == 0
    finally:
        await engine.dispose()
