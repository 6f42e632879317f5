"""Alembic environment: runs migrations over the async engine, one transaction per migration."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import aiwfe.models  # noqa: F401  (registers every table on Base.metadata)
from aiwfe.core.db import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
    )
    # One transaction for the whole upgrade (PostgreSQL DDL is transactional), serialised by an
    # advisory lock so replicas starting at once don't race.
    with context.begin_transaction():
        context.execute("SELECT pg_advisory_xact_lock(7305119)")
        context.run_migrations()


async def _run_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is not set"
    engine = create_async_engine(url, connect_args={"timeout": 10})
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
