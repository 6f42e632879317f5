"""Worker tasks of the calendar domain: importing large .ics uploads."""

from __future__ import annotations

import asyncio
import uuid

from celery import shared_task

from aiwfe.calendar import imports
from aiwfe.core.db import create_engine, create_sessionmaker
from aiwfe.core.settings import get_settings

IMPORT_ICS = "aiwfe.calendar.import_ics"


@shared_task(name=IMPORT_ICS)
def import_ics(import_id: str) -> str:
    """Run the import job ``import_id`` (all or nothing, progress in its row); returns its final status."""
    settings = get_settings()

    async def run() -> str:
        engine = create_engine(settings)
        try:
            return await imports.run_job(create_sessionmaker(engine), settings, uuid.UUID(import_id))
        finally:
            await engine.dispose()

    return asyncio.run(run())
