"""FastAPI dependencies of the calendar domain: its services (calendars, events, occurrences) with this
process's collaborators."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import State

from aiwfe.calendar.cache import PageCache
from aiwfe.calendar.events import EventService
from aiwfe.calendar.occurrences import OccurrenceService
from aiwfe.calendar.service import CalendarService, EnqueueImport
from aiwfe.calendar.tasks import IMPORT_ICS
from aiwfe.core.db import get_session
from aiwfe.core.settings import Settings
from aiwfe.core.stamps import CalendarStamps
from aiwfe.worker.publish import publish


@dataclass
class CalendarDeps:
    """Per-process collaborators of the calendar services (built once, on first use)."""

    settings: Settings
    enqueue_import: EnqueueImport
    pages: PageCache


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


def collaborators(state: State) -> CalendarDeps:
    """This API process's collaborators of the calendar services, made once."""
    deps: CalendarDeps | None = getattr(state, "calendar_deps", None)
    if deps is None:

        async def enqueue_import(import_id: uuid.UUID) -> None:
            await publish(state.celery, IMPORT_ICS, args=[str(import_id)])

        deps = CalendarDeps(settings=state.settings, enqueue_import=enqueue_import, pages=page_cache(state))
        state.calendar_deps = deps
    return deps


# Async, though nothing is awaited: FastAPI runs plain-def dependencies in its thread pool, a thread
# hop per request that the month view (and every calendar route) does not need.
async def calendar_deps(request: Request) -> CalendarDeps:
    return collaborators(request.app.state)


@asynccontextmanager
async def read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for a hot read route, opened in the handler rather than through FastAPI's dependency tree
    (a generator dependency and its exit stack per request). The session connects only on a miss."""
    factory: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with factory() as db:
        yield db


@asynccontextmanager
async def occurrence_reader(request: Request) -> AsyncIterator[OccurrenceService]:
    """The occurrence service over a ``read_session``, for the range-query route."""
    async with read_session(request) as db:
        yield occurrences_of(db, collaborators(request.app.state))


def calendars_of(db: AsyncSession, deps: CalendarDeps) -> CalendarService:
    return CalendarService(db, deps.settings, deps.enqueue_import)


def occurrences_of(db: AsyncSession, deps: CalendarDeps) -> OccurrenceService:
    return OccurrenceService(db, deps.settings, deps.pages)


async def calendar_service(
    deps: CalendarDeps = Depends(calendar_deps), db: AsyncSession = Depends(get_session)
) -> CalendarService:
    return calendars_of(db, deps)


async def event_service(
    deps: CalendarDeps = Depends(calendar_deps), db: AsyncSession = Depends(get_session)
) -> EventService:
    return EventService(db, deps.settings)


async def occurrence_service(
    deps: CalendarDeps = Depends(calendar_deps), db: AsyncSession = Depends(get_session)
) -> OccurrenceService:
    return occurrences_of(db, deps)
