"""The jobs service: the signed-in user's jobs over every source, newest first, and a job's live updates.

Live updates poll the job's row rather than subscribing to a channel: the row is the truth every API
replica can read, a reconnecting browser loses nothing, and the import job stays unaware of streams.
One primary-key read per open stream every ``AIWFE_JOBS_EVENTS_POLL_SECONDS`` is cheap.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncEngine

from aiwfe.core import cursors, sql
from aiwfe.core.logging import get_logger
from aiwfe.core.settings import Settings
from aiwfe.jobs.errors import InvalidCursor, JobNotFound
from aiwfe.jobs.schemas import JobOut, JobPage
from aiwfe.jobs.sources import JobSource, Position, default_sources

log = get_logger(__name__)


@dataclass(frozen=True)
class Update:
    """One thing to tell a follower: the job changed (``progress``), it ended (``done``), or nothing
    happened for a while (``heartbeat``, ``job`` is None)."""

    kind: Literal["progress", "done", "heartbeat"]
    job: JobOut | None = None


def encode_cursor(position: Position) -> str:
    return cursors.encode_cursor(position.created_at, str(position.id))


def decode_cursor(cursor: str) -> Position:
    try:
        created_at, job_id = cursors.decode_cursor(cursor)
        return Position(created_at, uuid.UUID(job_id))
    except ValueError:  # BadCursor, or not a job id
        raise InvalidCursor("pass back the next_cursor of a previous page", field="cursor") from None


class JobService:
    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        sources: Sequence[JobSource] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.sources = list(sources) if sources is not None else default_sources()
        self.monotonic = monotonic

    async def list_jobs(self, user_id: uuid.UUID, cursor: str | None, limit: int) -> JobPage:
        after = decode_cursor(cursor) if cursor else None
        found: list[JobOut] = []
        async with sql.connect(self.engine) as conn:
            for source in self.sources:
                found.extend(await source.page(conn, user_id, after, limit + 1))
        found.sort(key=lambda job: (job.created_at, job.id), reverse=True)
        items = found[:limit]
        more = len(found) > limit
        next_cursor = encode_cursor(Position(items[-1].created_at, items[-1].id)) if more else None
        return JobPage(items=items, next_cursor=next_cursor)

    async def find(self, user_id: uuid.UUID, job_id: uuid.UUID) -> JobOut | None:
        async with sql.connect(self.engine) as conn:
            for source in self.sources:
                job = await source.get(conn, user_id, job_id)
                if job is not None:
                    return job
        return None

    async def get_job(self, user_id: uuid.UUID, job_id: uuid.UUID) -> JobOut:
        job = await self.find(user_id, job_id)
        if job is None:
            raise JobNotFound(f"no job {job_id}")
        return job

    async def follow(
        self,
        user_id: uuid.UUID,
        job: JobOut,
        left: Callable[[], Awaitable[bool]],
        signed_in: Callable[[], Awaitable[bool]] | None = None,
    ) -> AsyncIterator[Update]:
        """The job now, then each change until it finishes (``done``), the client leaves, the caller's
        session ends (``signed_in`` is asked at every poll), or the stream has been open
        ``AIWFE_JOBS_EVENTS_MAX_SECONDS``; a heartbeat when nothing changed for a while."""
        settings = self.settings
        opened = last_sent = self.monotonic()
        # Whatever ends the stream other than the cases below is the client going away (cancellation).
        ended = "client_left"
        try:
            yield Update("progress", job)
            while not job.status.finished:
                if self.monotonic() - opened >= settings.jobs_events_max_seconds:
                    ended = "max_duration"
                    return
                await asyncio.sleep(settings.jobs_events_poll_seconds)
                if await left():
                    return
                if signed_in is not None and not await signed_in():
                    ended = "session_ended"
                    return
                current = await self.find(user_id, job.id)
                if current is None:  # its calendar was deleted meanwhile
                    ended = "gone"
                    return
                if current != job:
                    job = current
                    last_sent = self.monotonic()
                    yield Update("progress", job)
                elif self.monotonic() - last_sent >= settings.jobs_events_heartbeat_seconds:
                    last_sent = self.monotonic()
                    yield Update("heartbeat")
            ended = "done"
            yield Update("done", job)
        finally:
            log.info(
                "job_stream_ended",
                job_id=str(job.id),
                reason=ended,
                seconds=round(self.monotonic() - opened, 3),
            )
