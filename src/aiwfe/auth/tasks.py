"""Scheduled auth upkeep: audit-log retention."""

from __future__ import annotations

import asyncio

from celery import shared_task

from aiwfe.auth import audit
from aiwfe.core.db import create_engine, create_sessionmaker
from aiwfe.core.logging import get_logger
from aiwfe.core.settings import get_settings

log = get_logger(__name__)
PURGE_AUDIT = "aiwfe.auth.purge_audit"


@shared_task(name=PURGE_AUDIT)
def purge_audit() -> int:
    """Delete audit events older than ``AIWFE_AUDIT_RETENTION_DAYS``; returns how many."""
    settings = get_settings()

    async def run() -> int:
        engine = create_engine(settings)
        try:
            async with create_sessionmaker(engine)() as db:
                return await audit.purge_older_than(db, settings.audit_retention_days)
        finally:
            await engine.dispose()

    removed = asyncio.run(run())
    log.info("audit_purged", removed=removed, retention_days=settings.audit_retention_days)
    return removed
