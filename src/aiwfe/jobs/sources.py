"""Where jobs come from. Each kind of background job is a :class:`JobSource` over its own table; the
service merges them. Today: ICS imports (``calendar_imports``). A calendar sync, say, is one more class here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Row, Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from aiwfe.calendar.models import Calendar, CalendarImport
from aiwfe.jobs.schemas import JobKind, JobOut, JobStatus


@dataclass(frozen=True)
class Position:
    """A job's place in the newest-first list: older jobs sort after it."""

    created_at: datetime
    id: uuid.UUID


class JobSource(Protocol):
    kind: JobKind

    async def page(
        self, db: AsyncSession, user_id: uuid.UUID, after: Position | None, limit: int
    ) -> list[JobOut]:
        """The user's newest ``limit`` jobs that sort after ``after``, newest first."""
        ...

    async def get(self, db: AsyncSession, user_id: uuid.UUID, job_id: uuid.UUID) -> JobOut | None:
        """One of the user's jobs, or None if there is none with this id (or it is someone else's)."""
        ...


def percent(status: JobStatus, processed: int, total: int) -> int | None:
    if status is JobStatus.SUCCEEDED:
        return 100
    if total <= 0:
        return None
    return max(0, min(100, processed * 100 // total))


class CalendarImports:
    """ICS uploads the worker imports (the large ones; small files are imported in the request)."""

    kind = JobKind.CALENDAR_IMPORT

    def _owned(self, user_id: uuid.UUID) -> Select[*tuple[Any, ...]]:
        # The columns a job shows, not the entity: a pending import's row holds its whole upload.
        return (
            select(*_JOB_COLUMNS, Calendar.name.label("calendar_name"))
            .join(Calendar, Calendar.id == CalendarImport.calendar_id)
            .where(Calendar.owner_id == user_id)
        )

    async def page(
        self, db: AsyncSession, user_id: uuid.UUID, after: Position | None, limit: int
    ) -> list[JobOut]:
        query = self._owned(user_id)
        if after is not None:
            query = query.where(
                tuple_(CalendarImport.created_at, CalendarImport.id) < tuple_(after.created_at, after.id)
            )
        query = query.order_by(CalendarImport.created_at.desc(), CalendarImport.id.desc()).limit(limit)
        rows = await db.execute(query)
        return [self._out(row) for row in rows]

    async def get(self, db: AsyncSession, user_id: uuid.UUID, job_id: uuid.UUID) -> JobOut | None:
        row = (await db.execute(self._owned(user_id).where(CalendarImport.id == job_id))).first()
        return None if row is None else self._out(row)

    def _out(self, job: Row[Any]) -> JobOut:
        status = JobStatus(job.status.value)
        return JobOut(
            id=job.id,
            kind=self.kind,
            status=status,
            title=f"Import into “{job.calendar_name}”",
            processed=job.processed,
            total=job.total,
            percent=percent(status, job.processed, job.total),
            error=job.error,
            result={"created": job.created, "updated": job.updated, "size_bytes": job.size_bytes},
            calendar_id=job.calendar_id,
            created_at=job.created_at,
            finished_at=job.finished_at,
        )


_JOB_COLUMNS = (
    CalendarImport.id,
    CalendarImport.status,
    CalendarImport.processed,
    CalendarImport.total,
    CalendarImport.error,
    CalendarImport.created,
    CalendarImport.updated,
    CalendarImport.size_bytes,
    CalendarImport.calendar_id,
    CalendarImport.created_at,
    CalendarImport.finished_at,
)


def default_sources() -> list[JobSource]:
    return [CalendarImports()]
