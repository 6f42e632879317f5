"""The API's pool keeps every connection it may use at once: a burst as wide as the admission gate opens
no new PostgreSQL connection the second time (an overflow connection would be closed on its return and
opened again by the next burst, at the cost of the requests already queueing)."""

from __future__ import annotations

import asyncio

from sqlalchemy import event, text

from aiwfe.core import db
from aiwfe.core.admission import Gate
from aiwfe.core.settings import Settings


async def test_a_burst_as_wide_as_the_gate_reuses_its_connections(settings: Settings) -> None:
    width = Gate.for_settings(settings).limit
    engine = db.create_engine(settings)
    opened: list[object] = []
    event.listen(engine.sync_engine, "connect", lambda *_: opened.append(1))
    started = asyncio.Barrier(width)

    async def one_request() -> None:
        async with engine.connect() as conn:
            await started.wait()  # all ``width`` connections are out at once
            await conn.execute(text("SELECT 1"))

    try:
        await asyncio.gather(*(one_request() for _ in range(width)))
        first = len(opened)
        await asyncio.gather(*(one_request() for _ in range(width)))
    finally:
        await engine.dispose()
    assert first == width
    assert len(opened) == first, "the second burst opened connections again"
