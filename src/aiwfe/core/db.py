"""The async SQLAlchemy engine, the session factory and the FastAPI session dependency."""

from __future__ import annotations

import time
import weakref
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from sqlalchemy import Engine, MetaData, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext import asyncio as sa_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase

from aiwfe.core.settings import Settings

# Stable constraint names so Alembic autogenerate produces reviewable, reversible migrations.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# A connection back in the pool more recently than this is used without a ping: under load every checkout
# would otherwise cost a round trip, and a busy pool reuses its connections within milliseconds. One second,
# not more: a PostgreSQL restart takes a few seconds, so a connection that sat through it is pinged and
# replaced before a request sees it (with 10 s the first read after a restart failed in the validation
# drill). A connection killed within a second of its last use still fails its next statement; SQLAlchemy
# then drops every connection of the pool older than the failure.
PING_IF_IDLE_SECONDS = 1.0
_CHECKED_IN_AT = "aiwfe_checked_in_at"


def _ping_idle_connections(engine: AsyncEngine) -> None:
    """Pre-ping only connections that sat idle: a dead one is replaced before the request sees it."""
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    @event.listens_for(pool, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_CHECKED_IN_AT)
        if since is None or time.monotonic() - since < PING_IF_IDLE_SECONDS:
            return  # new, or used a moment ago
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception:  # whatever the driver raises, this connection is not usable
            alive = False
        if not alive:
            raise DisconnectionError("the connection was closed while idle")  # the pool tries a new one


# The settings each engine was made with: what a session's after-commit hooks need to reach Redis in a
# process that has no client of its own at hand (a worker task, the CLI).
_SETTINGS: weakref.WeakKeyDictionary[Engine, Settings] = weakref.WeakKeyDictionary()


def create_engine(settings: Settings) -> AsyncEngine:
    """An engine with a bounded pool, a ping for idle connections (survives a PostgreSQL restart) and a
    statement timeout."""
    # Called through the module, so OpenTelemetry's SQLAlchemy instrumentation (which wraps the
    # module attribute) traces every engine made after tracing is configured.
    engine = sa_asyncio.create_async_engine(
        settings.database_url.get_secret_value(),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        pool_recycle=1800,
        connect_args={
            "timeout": settings.db_pool_timeout_seconds,
            "server_settings": {
                "application_name": settings.service_name,
                "statement_timeout": str(settings.db_statement_timeout_ms),
            },
        },
    )
    _ping_idle_connections(engine)
    _SETTINGS[engine.sync_engine] = settings
    return engine


def engines() -> list[Engine]:
    """The engines ``create_engine`` made in this process that are still alive (tracing instruments them)."""
    return list(_SETTINGS)


def settings_of(bind: object) -> Settings | None:
    """The settings ``bind`` (a sync engine or one of its connections) was made with by ``create_engine``."""
    engine = getattr(bind, "engine", bind)
    return _SETTINGS.get(engine) if isinstance(engine, Engine) else None


def create_sessionmaker(
    engine: AsyncEngine, info: dict[str, object] | None = None
) -> async_sessionmaker[AsyncSession]:
    """``info`` lands in every session's ``Session.info`` (the API puts its session store there)."""
    return async_sessionmaker(engine, expire_on_commit=False, info=info)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """FastAPI dependency: one session per request, rolled back if the handler raises."""
    factory: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with factory() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
