"""Task metrics (count, duration, failures by task name) and queue depth, served by the worker.

Tasks run in prefork children, so the counters use prometheus_client's multiprocess mode; the
parent serves the merged view on ``AIWFE_WORKER_METRICS_PORT``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import redis
from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

LAST_BACKUP_KEY = "aiwfe:backup:last-success"
TASK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)

TASKS = Counter("aiwfe_celery_tasks_total", "Tasks finished, by task name and state.", ["task", "state"])
TASK_DURATION = Histogram(
    "aiwfe_celery_task_duration_seconds", "Task run time, by task name.", ["task"], buckets=TASK_BUCKETS
)


class QueueDepthCollector(Collector):
    """Reads each queue's length from the Redis broker at scrape time (drives worker autoscaling)."""

    def __init__(self, broker_url: str, queues: list[str]) -> None:
        self._client = redis.Redis.from_url(broker_url, socket_timeout=2, socket_connect_timeout=2)
        self._queues = queues

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "aiwfe_celery_queue_length", "Tasks waiting in the broker queue.", labels=["queue"]
        )
        backup = GaugeMetricFamily(
            "aiwfe_backup_last_success_timestamp_seconds",
            "Unix time of the newest successful database backup (written by `aiwfe backup now`).",
        )
        try:
            for queue in self._queues:
                family.add_metric([queue], float(self._client.llen(queue)))
            last_backup = self._client.get(LAST_BACKUP_KEY)
        except redis.RedisError:
            return  # an absent series is what alerts on "broker unreachable" expect
        yield family
        if last_backup is not None:
            backup.add_metric([], float(last_backup))
            yield backup


def serve(host: str, port: int, broker_url: str, queues: list[str]) -> None:
    """Start the metrics HTTP server in the worker's parent process."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    registry.register(QueueDepthCollector(broker_url, queues))
    start_http_server(port, addr=host, registry=registry)


def mark_process_dead(pid: int) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
