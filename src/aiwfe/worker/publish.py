"""Queue a worker task from async code (the API) without blocking the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from celery import Celery

from aiwfe.core.logging import get_logger

log = get_logger(__name__)
# How long start-up waits for the broker before it leaves the connection to the first publish.
WARM_TIMEOUT_SECONDS = 5.0


async def publish(
    celery: Celery, name: str, *, args: Sequence[Any] | None = None, kwargs: dict[str, Any] | None = None
) -> None:
    """Send task ``name``; publishing is a blocking broker round trip, so it runs in a thread."""
    await asyncio.to_thread(celery.send_task, name, args=args, kwargs=kwargs)


def _warm(celery: Celery) -> None:
    celery.finalize(auto=True)  # the app's configuration and task registry
    celery.backend  # noqa: B018 (builds the result backend's client)
    with celery.producer_or_acquire() as producer:
        producer.connection.ensure_connection(max_retries=1, interval_start=0, timeout=WARM_TIMEOUT_SECONDS)


async def warm(celery: Celery) -> bool:
    """Do the first publish's one-time work at start-up, before any request: finalize the app, build the
    result backend and connect the producer to the broker. Done by the first request instead, it held
    the GIL in its thread for ~0.1 s on a quiet machine (the event loop stalled with it), and over 0.5 s on a
    busy one. A broker that cannot be reached is left to the first publish (and to readiness) to report."""
    try:
        # Bounded as a whole: acquiring the producer connects with the broker's own retry policy first.
        async with asyncio.timeout(2 * WARM_TIMEOUT_SECONDS):
            await asyncio.to_thread(_warm, celery)
    except Exception as exc:
        log.warning("broker_not_warmed", error=f"{type(exc).__name__}: {exc}")
        return False
    return True
