"""Admission: at most as many requests of an API process do their work at once as its database pool has
connections; the others wait their turn (first come, first served) or, past a deadline, are turned away
with a 503 before any of their work is done (``aiwfe.api.admission`` is the middleware).

Without it the pool is the queue: under overload a request waits there after it has begun (a sign-in after
its password hash, for the commit of its session's audit row), and after ``db_pool_timeout_seconds`` fails
half done. An admitted request uses at most one pooled connection at a time, so with the limit at the
pool's size an admitted request does not wait for a connection because of load alone.

A request that waits on a queue of its own holding no connection (a password hash) steps aside
(:func:`step_aside`): its slot serves another request meanwhile, and it takes a slot back afterwards
without a deadline, since its work has begun and must not be shed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

from aiwfe.core.settings import Settings


class Gate:
    """``limit`` slots; a request that cannot get one within ``wait_seconds`` is shed."""

    def __init__(self, limit: int, wait_seconds: float) -> None:
        self.limit = limit
        self.wait_seconds = wait_seconds
        self.slots = asyncio.Semaphore(limit)

    @classmethod
    def for_settings(cls, settings: Settings) -> Gate:
        limit = settings.api_max_concurrent_requests or settings.db_pool_size + settings.db_max_overflow
        return cls(limit, settings.api_admission_wait_seconds)


# The gate whose slot the current request holds (set by the middleware for the request's task).
HELD: ContextVar[Gate | None] = ContextVar("aiwfe_admission_held", default=None)


@asynccontextmanager
async def step_aside() -> AsyncIterator[None]:
    """Give the current request's slot to another while the body waits elsewhere; take one back after."""
    gate = HELD.get()
    if gate is None:
        yield
        return
    gate.slots.release()
    try:
        yield
    finally:
        await gate.slots.acquire()  # no deadline: this request's work has begun
