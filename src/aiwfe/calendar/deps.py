"""FastAPI dependencies of the calendar domain: the service with this process's collaborators."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import State

from aiwfe.calendar.cache import PageCache
from aiwfe.calendar.service import CalendarDeps, CalendarService
from aiwfe.calendar.tasks import IMPORT_ICS
from aiwfe.core.db import get_session
from aiwfe.core.stamps import CalendarStamps
from aiwfe.worker.publish import publish


def page_cache(state: State) -> PageCache:
    """This API process's range-query page cache, made on first use."""
    cache: PageCache | None = getattr(state, "calendar_pages", None)
    if cache is None:
        settings = state.settings
        cache = PageCache(
            state.redis,
            ttl_seconds=settings.calendar_cache_seconds,
            memory_bytes=settings.calendar_cache_memory_bytes,
        )
        state.calendar_pages = cache
    return cache


def calendar_stamps(state: State) -> CalendarStamps:
    """This API process's calendar stamps (made in the app's lifespan, which wires them into its sessions)."""
    stamps: CalendarStamps = state.calendar_stamps
    return stamps


def _calendar_deps(state: State) -> CalendarDeps:
    """This API process's collaborators of the calendar service, made once."""
    deps: CalendarDeps | None = getattr(state, "calendar_deps", None)
    if deps is None:

        async def enqueue_import(import_id: uuid.UUID) -> None:
            await publish(state.celery, IMPORT_ICS, args=[str(import_id)])

        deps = CalendarDeps(
            settings=state.settings, redis=state.redis, enqueue_import=enqueue_import, pages=page_cache(state)
        )
        state.calendar_deps = deps
    return deps


# Async, though nothing is awaited: FastAPI runs plain-def dependencies in its thread pool, a thread
# hop per request that the month view (and every calendar route) does not need.
async def calendar_deps(request: Request) -> CalendarDeps:
    return _calendar_deps(request.app.state)


@asynccontextmanager
async def calendar_reader(request: Request) -> AsyncIterator[CalendarService]:
    """The service for a hot read route, opened in the handler rather than through FastAPI's dependency
    tree (a generator dependency and its exit stack per request). The session connects only on a miss."""
    factory: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with factory() as db:
        yield CalendarService(db, _calendar_deps(request.app.state))


async def calendar_service(
    deps: CalendarDeps = Depends(calendar_deps), db: AsyncSession = Depends(get_session)
) -> CalendarService:
    return CalendarService(db, deps)
