"""Migrations: upgrade to head creates the schema, is idempotent, and downgrades cleanly."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from tests.conftest import APP_PASSWORD, APP_USER, database_url

from aiwfe.core.migrations import downgrade, head_revision, upgrade
from aiwfe.core.settings import Settings
from aiwfe_stack.postgres import PostgresCluster


def _query(url: str, sql: str) -> list[tuple[object, ...]]:
    async def run() -> list[tuple[object, ...]]:
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            rows = [tuple(row) for row in (await conn.execute(text(sql))).all()]
        await engine.dispose()
        return rows

    return asyncio.run(run())


def test_upgrade_is_idempotent_and_downgrade_to_base_empties_the_schema(
    postgres: PostgresCluster, base_settings: Settings
) -> None:
    asyncio.run(postgres.ensure_database("aiwfe_migrate", APP_USER, APP_PASSWORD))
    url = database_url(postgres, "aiwfe_migrate")
    settings = Settings(env=base_settings.env, database_url=url, redis_url=base_settings.redis_url)

    upgrade(settings)
    assert _query(url, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    assert _query(url, "SELECT to_regclass('public.ops_canary') IS NOT NULL") == [(True,)]

    upgrade(settings)
    assert _query(url, "SELECT count(*) FROM alembic_version") == [(1,)]

    downgrade(settings, "base")
    assert _query(url, "SELECT to_regclass('public.ops_canary') IS NULL") == [(True,)]
    assert _query(url, "SELECT count(*) FROM alembic_version") == [(0,)]
