"""Queue a worker task from async code (the API) without blocking the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from celery import Celery


async def publish(
    celery: Celery, name: str, *, args: Sequence[Any] | None = None, kwargs: dict[str, Any] | None = None
) -> None:
    """Send task ``name``; publishing is a blocking broker round trip, so it runs in a thread."""
    await asyncio.to_thread(celery.send_task, name, args=args, kwargs=kwargs)
