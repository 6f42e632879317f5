"""FastAPI dependencies of the jobs domain: the service and the stream slots, over this process's
collaborators (made in the app's lifespan)."""

from __future__ import annotations

from fastapi import Request

from aiwfe.jobs.service import JobService
from aiwfe.jobs.streams import StreamSlots


async def job_service(request: Request) -> JobService:
    state = request.app.state
    return JobService(state.engine, state.settings)


def stream_slots(request: Request) -> StreamSlots:
    state = request.app.state
    return StreamSlots(state.redis, state.settings, state.auth.clock)
