"""``run_async``: a task run's engine and Redis client are closed when the run ends, whether it succeeds or
raises, so a long-lived worker process leaks no connections."""

from __future__ import annotations

import asyncio

import pytest
import redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from aiwfe.core.settings import Settings
from aiwfe.worker.resources import TaskResources, run_async

NAME = "aiwfe-resources-test"


async def _open_connections(settings: Settings) -> int:
    engine = create_async_engine(settings.database_url.get_secret_value())
    try:
        async with engine.connect() as conn:
            count = await conn.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"), {"name": NAME}
            )
            return int(count or 0)
    finally:
        await engine.dispose()


def _redis_clients(settings: Settings) -> int:
    """Connections named like this test's runs: other tests' clients come and go on the same server."""
    with redis.Redis.from_url(settings.redis_url.get_secret_value()) as client:
        return sum(1 for entry in client.client_list() if entry.get("name") == NAME)


async def _use_both(task: TaskResources) -> int:
    async with task.sessions() as db:
        value = int(await db.scalar(text("SELECT 41")) or 0)
        assert await _open_connections(task.settings) == 1  # the check sees this run's connection
    assert await task.redis.ping()
    assert _redis_clients(task.settings) == 1  # named: the count below sees this run's connection
    return value + 1


def test_a_run_returns_its_result_and_closes_its_connections(settings: Settings) -> None:
    named = settings.model_copy(update={"service_name": NAME})
    assert run_async(_use_both, named) == 42
    assert asyncio.run(_open_connections(named)) == 0
    assert _redis_clients(settings) == 0


def test_a_failed_run_closes_its_connections_too(settings: Settings) -> None:
    named = settings.model_copy(update={"service_name": NAME})

    async def fail(task: TaskResources) -> None:
        await _use_both(task)
        raise RuntimeError("the task failed")

    with pytest.raises(RuntimeError, match="the task failed"):
        run_async(fail, named)
    assert asyncio.run(_open_connections(named)) == 0
    assert _redis_clients(settings) == 0


def test_redis_is_connected_only_when_a_run_asks_for_it(settings: Settings) -> None:
    async def database_only(task: TaskResources) -> bool:
        async with task.sessions() as db:
            await db.execute(text("SELECT 1"))
        return task._redis is None

    assert run_async(database_only, settings)
