"""Heartbeats of the worker (a bootstep on the worker's timer) and of beat (its scheduler's tick)."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import redis
from celery import bootsteps
from celery.beat import PersistentScheduler

from aiwfe.core.heartbeat import heartbeat_key, write_heartbeat
from aiwfe.core.logging import get_logger
from aiwfe.core.settings import Settings
from aiwfe.worker import orphans

log = get_logger(__name__)


def _client(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(
        settings.redis_url.get_secret_value(), socket_timeout=2, socket_connect_timeout=2
    )


def _beat_safely(client: redis.Redis, role: str, name: str, settings: Settings) -> None:
    try:
        write_heartbeat(client, role, name, settings.heartbeat_stale_seconds * 2)
    except redis.RedisError as exc:
        # A missed heartbeat is what /ready reports; the process itself keeps working.
        log.warning("heartbeat_failed", role=role, error=str(exc))


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Writes the worker's heartbeat from the parent process every ``heartbeat_interval_seconds``, and hands
    back the tasks of workers that died mid-task (``orphans.py``)."""

    requires = ("celery.worker.components:Timer",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._tref: Any = None
        self._client: redis.Redis | None = None

    def start(self, parent: Any) -> None:
        settings: Settings = parent.app.conf.aiwfe_settings
        self._client = client = _client(settings)
        name = parent.hostname
        booted_at = time.time()
        # Another worker's tasks are orphans once its heartbeat missed three beats.
        stale_after = 3 * settings.heartbeat_interval_seconds

        def reap(first: bool) -> None:
            try:
                orphans.restore_orphans(
                    parent.app,
                    client,
                    stale_after=stale_after,
                    own_hostname=name,
                    booted_at=booted_at if first else 0.0,
                )
            except Exception as exc:  # the worker keeps working; the visibility timeout still applies
                log.warning("orphan_scan_failed", error=str(exc))

        def tick() -> None:
            _beat_safely(client, "worker", name, settings)
            reap(first=False)

        _beat_safely(client, "worker", name, settings)
        reap(first=True)
        self._tref = parent.timer.call_repeatedly(settings.heartbeat_interval_seconds, tick, priority=10)

    def stop(self, parent: Any) -> None:
        if self._tref is not None:
            self._tref.cancel()
        if self._client is not None:
            with contextlib.suppress(redis.RedisError):
                self._client.delete(heartbeat_key("worker", parent.hostname))


class HeartbeatScheduler(PersistentScheduler):
    """Celery beat's scheduler, writing beat's heartbeat on each tick (so it proves beat is scheduling)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._settings: Settings = self.app.conf.aiwfe_settings
        self._client = _client(self._settings)
        self._last_beat = 0.0

    def tick(self, *args: Any, **kwargs: Any) -> float:
        now = time.monotonic()
        interval = self._settings.heartbeat_interval_seconds
        if now - self._last_beat >= interval:
            _beat_safely(self._client, "beat", "beat", self._settings)
            self._last_beat = now
        remaining: float = super().tick(*args, **kwargs)
        return min(remaining, interval)
