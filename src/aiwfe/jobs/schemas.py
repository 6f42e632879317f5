"""Response bodies of the jobs API: one shape for every kind of job."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class JobKind(enum.StrEnum):
    CALENDAR_IMPORT = "calendar_import"


class JobStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED)


class JobOut(BaseModel):
    id: uuid.UUID
    kind: JobKind
    status: JobStatus
    title: str = Field(description='what the job does, in words, e.g. `Import into "Work"`')
    processed: int = Field(description="items done so far")
    total: int = Field(description="items to do; 0 while not yet known")
    percent: int | None = Field(description="0 to 100, or null while the total is not known")
    error: str | None
    result: dict[str, Any] = Field(description="kind-specific figures, e.g. created/updated for an import")
    calendar_id: uuid.UUID | None = Field(description="the calendar the job works on, if any")
    created_at: datetime
    finished_at: datetime | None


class JobPage(BaseModel):
    items: list[JobOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next (older) page; null at the end")
