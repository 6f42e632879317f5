"""Where jobs come from. Each kind of background job is a :class:`JobSource` over its own table; the
service merges them. Today: ICS imports (``calendar_imports``). A calendar sync, say, is one more class here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Select, bindparam, select, tuple_

from aiwfe.calendar.models import Calendar, CalendarImport, ImportStatus
from aiwfe.core import sql
from aiwfe.jobs.schemas import JobKind, JobOut, JobStatus


@dataclass(frozen=True)
class Position:
    """A job's place in the newest-first list: older jobs sort after it."""

    created_at: datetime
    id: uuid.UUID


class JobSource(Protocol):
    kind: JobKind

    async def page(
        self, conn: sql.Connection, user_id: uuid.UUID, after: Position | None, limit: int
    ) -> list[JobOut]:
        """The user's newest ``limit`` jobs that sort after ``after``, newest first."""
        ...

    async def get(self, conn: sql.Connection, user_id: uuid.UUID, job_id: uuid.UUID) -> JobOut | None:
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

    async def page(
        self, conn: sql.Connection, user_id: uuid.UUID, after: Position | None, limit: int
    ) -> list[JobOut]:
        if after is None:
            rows = await _NEWEST.rows(conn, owner=user_id, limit=limit)
        else:
            rows = await _OLDER.rows(
                conn, owner=user_id, created_at=after.created_at, id=after.id, limit=limit
            )
        return [self._out(*row) for row in rows]

    async def get(self, conn: sql.Connection, user_id: uuid.UUID, job_id: uuid.UUID) -> JobOut | None:
        row = await _ONE.row(conn, owner=user_id, job=job_id)
        return None if row is None else self._out(*row)

    def _out(
        self,
        id: uuid.UUID,
        status: ImportStatus,
        processed: int,
        total: int,
        error: str | None,
        created: int,
        updated: int,
        size_bytes: int,
        calendar_id: uuid.UUID,
        created_at: datetime,
        finished_at: datetime | None,
        calendar_name: str,
    ) -> JobOut:
        state = JobStatus(status.value)
        return JobOut(
            id=id,
            kind=self.kind,
            status=state,
            title=f"Import into “{calendar_name}”",
            processed=processed,
            total=total,
            percent=percent(state, processed, total),
            error=error,
            result={"created": created, "updated": updated, "size_bytes": size_bytes},
            calendar_id=calendar_id,
            created_at=created_at,
            finished_at=finished_at,
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


def _owned() -> Select[*tuple[Any, ...]]:
    # The columns a job shows (in ``CalendarImports._out``'s order), not the entity: a pending import's
    # row holds its whole upload.
    return (
        select(*_JOB_COLUMNS, Calendar.name)
        .join(Calendar, Calendar.id == CalendarImport.calendar_id)
        .where(Calendar.owner_id == bindparam("owner"))
    )


def _newest_first(query: Select[Any]) -> Select[Any]:
    return query.order_by(CalendarImport.created_at.desc(), CalendarImport.id.desc()).limit(
        bindparam("limit")
    )


_NEWEST = sql.Query(_newest_first(_owned()), "jobs.imports.newest")
_OLDER = sql.Query(
    _newest_first(
        _owned().where(
            tuple_(CalendarImport.created_at, CalendarImport.id)
            < tuple_(
                bindparam("created_at", type_=CalendarImport.created_at.type),
                bindparam("id", type_=CalendarImport.id.type),
            )
        )
    ),
    "jobs.imports.older",
)
_ONE = sql.Query(_owned().where(CalendarImport.id == bindparam("job")), "jobs.imports.one")


def default_sources() -> list[JobSource]:
    return [CalendarImports()]
