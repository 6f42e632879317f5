"""What a worker task that touches the database runs with: ``run_async(work)`` runs ``work`` on a fresh event
loop with its own engine (and Redis client, when asked for) and closes them afterwards, whatever happens;
``task_resources`` is the same for code that is already async."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from aiwfe.core.db import create_engine, create_sessionmaker
from aiwfe.core.redis import create_redis
from aiwfe.core.settings import Settings, get_settings

T = TypeVar("T")


class TaskResources:
    """One task run's engine, session factory and (made on first use) Redis client."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine: AsyncEngine = create_engine(settings)
        self.sessions: async_sessionmaker[AsyncSession] = create_sessionmaker(self.engine)
        self._redis: Redis | None = None

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            self._redis = create_redis(self.settings)
        return self._redis

    async def aclose(self) -> None:
        try:
            if self._redis is not None:
                await self._redis.aclose()
        finally:
            await self.engine.dispose()


@asynccontextmanager
async def task_resources(settings: Settings | None = None) -> AsyncIterator[TaskResources]:
    resources = TaskResources(settings or get_settings())
    try:
        yield resources
    finally:
        await resources.aclose()


def run_async(work: Callable[[TaskResources], Awaitable[T]], settings: Settings | None = None) -> T:
    """Run ``work`` to completion from a (synchronous) Celery task and return its result.

    Each run gets its own event loop, so it gets its own engine too: asyncpg connections belong to the loop
    that opened them, and a pool kept from an earlier run would hand out connections of a closed loop.
    """

    async def main() -> T:
        async with task_resources(settings) as resources:
            return await work(resources)

    return asyncio.run(main())
