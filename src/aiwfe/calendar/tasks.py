"""Worker tasks of the calendar domain: importing large .ics uploads."""

from __future__ import annotations

import uuid

from celery import shared_task

from aiwfe.calendar import imports
from aiwfe.worker.resources import TaskResources, run_async

IMPORT_ICS = "aiwfe.calendar.import_ics"


@shared_task(name=IMPORT_ICS)
def import_ics(import_id: str) -> str:
    """Run the import job ``import_id`` (all or nothing, progress in its row); returns its final status."""

    async def run(task: TaskResources) -> str:
        return await imports.run_job(task.sessions, task.settings, uuid.UUID(import_id))

    return run_async(run)
