"""Worker tasks of reminders: the due scan (beat, every ``AIWFE_REMINDERS_SCAN_SECONDS``) and one send.

The scan enqueues one send per claimable row; a send claims its row first, so duplicate messages (a
redelivery, two scans) do nothing. Nothing waits in the broker with an ETA: a retry is a row with a time.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from celery import Celery, shared_task
from celery.signals import worker_ready

from aiwfe.calendar.reminders import delivery, scanner
from aiwfe.core.logging import get_logger
from aiwfe.core.settings import get_settings
from aiwfe.worker.resources import TaskResources, run_async

log = get_logger(__name__)
SCAN = "aiwfe.reminders.scan"
SEND = "aiwfe.reminders.send"


def _now() -> datetime:
    return datetime.now(UTC)


def enqueue_sends(app: Celery, delivery_ids: Iterable[uuid.UUID]) -> None:
    for delivery_id in delivery_ids:
        app.send_task(SEND, args=[str(delivery_id)])


@shared_task(name=SCAN, bind=True)
def scan_due(self: Any) -> dict[str, Any]:
    """Record due reminders and hand each claimable one to a worker."""

    async def run(task: TaskResources) -> scanner.ScanResult:
        return await scanner.scan(task.sessions, task.settings, _now())

    result = run_async(run)
    enqueue_sends(self.app, result.to_send)
    return {"recorded": result.recorded, "skipped": result.skipped, "enqueued": len(result.to_send)}


@shared_task(name=SEND)
def send_reminder(delivery_id: str) -> str:
    """Claim and send one delivery: ``sent``, ``not-claimed`` (done or another's), ``retry`` or ``failed``."""

    async def run(task: TaskResources) -> str:
        return await delivery.deliver(task.sessions, task.settings, uuid.UUID(delivery_id), _now)

    return run_async(run)


@worker_ready.connect
def _scan_on_start(sender: Any = None, **_: Any) -> None:
    """A worker coming back after downtime catches up at once instead of waiting for beat's next tick."""
    if sender is None or not get_settings().reminders_scan_on_worker_start:
        return
    try:
        sender.app.send_task(SCAN)
    except Exception as exc:  # the broker being away must not stop the worker from starting
        log.warning("reminders_scan_on_start_failed", error=type(exc).__name__)
