"""HTTP routes of the jobs domain: the list, one job, and its progress as server-sent events."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent
from sqlalchemy.ext.asyncio import AsyncSession

from aiwfe.auth.deps import Principal, require_scope
from aiwfe.auth.liveness import still_signed_in
from aiwfe.auth.service import AuthDeps
from aiwfe.core.db import get_session
from aiwfe.jobs.deps import job_service, stream_slots
from aiwfe.jobs.schemas import JobOut, JobPage
from aiwfe.jobs.service import JobService
from aiwfe.jobs.streams import StreamSlots

jobs = APIRouter(prefix="/jobs", tags=["jobs"])
routers = [jobs]

# How long a browser waits before reconnecting after the stream ends (milliseconds).
RECONNECT_MS = 2000


@jobs.get("", response_model=JobPage)
async def list_jobs(
    cursor: str | None = Query(default=None, max_length=512),
    limit: int = Query(default=20, ge=1, le=100),
    principal: Principal = Depends(require_scope("read")),
    service: JobService = Depends(job_service),
) -> JobPage:
    """The signed-in user's background jobs, newest first."""
    return await service.list_jobs(principal.user.id, cursor, limit)


@jobs.get("/{job_id}", response_model=JobOut)
async def get_job(
    job_id: uuid.UUID,
    principal: Principal = Depends(require_scope("read")),
    service: JobService = Depends(job_service),
) -> JobOut:
    return await service.get_job(principal.user.id, job_id)


async def followed_job(
    job_id: uuid.UUID,
    principal: Principal = Depends(require_scope("read")),
    service: JobService = Depends(job_service),
    db: AsyncSession = Depends(get_session),
) -> JobOut:
    """The job to stream, looked up before the stream starts (so an unknown id is a plain 404)."""
    job = await service.get_job(principal.user.id, job_id)
    # The request's session (it authenticated the caller) would hold a pooled connection for the
    # whole stream; the stream reads through short sessions of its own instead.
    await db.close()
    return job


async def stream_slot(
    _: JobOut = Depends(followed_job),
    principal: Principal = Depends(require_scope("read")),
    slots: StreamSlots = Depends(stream_slots),
) -> str:
    """One of the user's few concurrent streams, taken before the stream starts (so too many is a 429)."""
    return await slots.acquire(principal.user.id)


@jobs.get(
    "/{job_id}/events",
    response_class=EventSourceResponse,
    responses={200: {"description": "`progress` events with the job, then one `done` event"}},
)
async def job_events(
    request: Request,
    job: JobOut = Depends(followed_job),
    slot: str = Depends(stream_slot),
    principal: Principal = Depends(require_scope("read")),
    service: JobService = Depends(job_service),
    slots: StreamSlots = Depends(stream_slots),
) -> AsyncIterator[ServerSentEvent]:
    """The job's progress as server-sent events until it finishes or the caller's session ends; reconnect
    to follow it further. A user holds at most ``AIWFE_JOBS_EVENTS_MAX_STREAMS_PER_USER`` at once."""
    auth: AuthDeps = request.app.state.auth
    user_id = principal.user.id

    async def signed_in() -> bool:
        await slots.refresh(user_id, slot)
        return await still_signed_in(principal, auth.sessions, request.app.state.sessionmaker, auth.clock)

    first = True
    try:
        async for update in service.follow(user_id, job, request.is_disconnected, signed_in):
            if update.job is None:
                yield ServerSentEvent(comment="heartbeat")
                continue
            yield ServerSentEvent(
                event=update.kind, data=update.job, id=str(job.id), retry=RECONNECT_MS if first else None
            )
            first = False
    finally:
        await slots.release(user_id, slot)
