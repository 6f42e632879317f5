"""System tasks: a round-trip probe used by health tooling, benchmarks and the validation suite, and the
canary writer that lets a restore drill of a running stack measure its RPO."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from celery import shared_task
from sqlalchemy import text

from aiwfe.core.logging import get_logger
from aiwfe.core.settings import Settings, get_settings
from aiwfe.worker.resources import task_resources

log = get_logger(__name__)
CANARY = "aiwfe.system.canary"
# Beat writes one row this often: the newest row a restore brings back bounds the data lost (RPO ≤ 60 s
# with archive_timeout 60 s), measured instead of assumed (`aiwfe restore-drill`).
CANARY_INTERVAL_SECONDS = 15.0
# Longer than the 30-day backup retention, so a restore to any point still finds rows around it.
CANARY_KEEP_DAYS = 35


@shared_task(name="aiwfe.system.ping")
def ping(payload: dict[str, Any] | None = None, sleep_seconds: float = 0.0) -> dict[str, Any]:
    """Echo ``payload`` after an optional sleep; proves a worker takes, runs and acknowledges tasks."""
    if sleep_seconds:
        time.sleep(min(sleep_seconds, 60.0))
    log.info("ping", payload=payload)
    return {"pong": payload, "at": time.time()}


async def write_canary_row(settings: Settings, keep_days: int = CANARY_KEEP_DAYS) -> int:
    """Insert one ``ops_canary`` row (source ``beat``) and drop beat rows older than ``keep_days``."""
    async with task_resources(settings) as task, task.engine.begin() as conn:
        row_id = (
            await conn.execute(text("INSERT INTO ops_canary (source) VALUES ('beat') RETURNING id"))
        ).scalar_one()
        await conn.execute(
            text(
                "DELETE FROM ops_canary WHERE source = 'beat' "
                "AND written_at < now() - make_interval(days => :days)"
            ),
            {"days": keep_days},
        )
    return int(row_id)


@shared_task(name=CANARY)
def write_canary() -> int:
    """Beat's canary row (every CANARY_INTERVAL_SECONDS); returns its id."""
    return asyncio.run(write_canary_row(get_settings()))
