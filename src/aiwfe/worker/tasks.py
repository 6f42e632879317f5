"""System tasks: a round-trip probe used by health tooling, benchmarks and the validation suite."""

from __future__ import annotations

import time
from typing import Any

from celery import shared_task

from aiwfe.core.logging import get_logger

log = get_logger(__name__)


@shared_task(name="aiwfe.system.ping")
def ping(payload: dict[str, Any] | None = None, sleep_seconds: float = 0.0) -> dict[str, Any]:
    """Echo ``payload`` after an optional sleep; proves a worker takes, runs and acknowledges tasks."""
    if sleep_seconds:
        time.sleep(min(sleep_seconds, 60.0))
    log.info("ping", payload=payload)
    return {"pong": payload, "at": time.time()}
