"""Prometheus metrics of the API process: RED per route, in-flight requests, DB pool, event-loop lag."""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable, Iterator

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

# Buckets around the brief's targets: p95 < 500 ms, p99 < 1 s, alert at 2 s.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "aiwfe_http_requests_total",
    "HTTP requests handled, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "aiwfe_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
HTTP_IN_FLIGHT = Gauge("aiwfe_http_requests_in_flight", "HTTP requests being handled right now.")
ADMISSION_QUEUED = Counter(
    "aiwfe_http_requests_queued_total", "Requests that found every admission slot taken and waited for one."
)
ADMISSION_SHED = Counter(
    "aiwfe_http_requests_shed_total", "Requests answered 503 (overloaded) after waiting too long for a slot."
)
ADMISSION_WAIT = Histogram(
    "aiwfe_http_admission_wait_seconds",
    "Time a queued request waited for its admission slot.",
    buckets=LATENCY_BUCKETS,
)
# From "no lag" to the brief's p99 target and past it: lag adds to every request in flight at that moment.
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
EVENT_LOOP_LAG = Histogram(
    "aiwfe_event_loop_lag_seconds",
    "How late the event loop woke a sleeping sampler task: time the loop was held by other work.",
    buckets=LAG_BUCKETS,
)
READY_CHECK = Gauge(
    "aiwfe_ready_check_up", "1 when the dependency passed its last /ready check, else 0.", ["check"]
)


class _PoolCollector(Collector):
    """Reads the SQLAlchemy pool of the API's engine at scrape time."""

    def __init__(self) -> None:
        self._engine: weakref.ReferenceType[AsyncEngine] | None = None

    def watch(self, engine: AsyncEngine) -> None:
        self._engine = weakref.ref(engine)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        engine = self._engine() if self._engine else None
        if engine is None:
            return
        pool = engine.sync_engine.pool
        if not isinstance(pool, QueuePool):
            return
        stats = {
            "size": ("aiwfe_db_pool_size", "Configured pool size.", pool.size()),
            "checked_out": ("aiwfe_db_pool_checked_out", "Connections in use.", pool.checkedout()),
            "checked_in": ("aiwfe_db_pool_checked_in", "Idle connections in the pool.", pool.checkedin()),
            "overflow": ("aiwfe_db_pool_overflow", "Connections beyond the pool size.", pool.overflow()),
        }
        for name, doc, value in stats.values():
            family = GaugeMetricFamily(name, doc)
            family.add_metric([], float(value))
            yield family


DB_POOL = _PoolCollector()
REGISTRY.register(DB_POOL)


async def sample_event_loop_lag(
    interval: float = 0.25,
    *,
    report_above: float = 0.25,
    on_stall: Callable[[float], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> None:
    """Sleep ``interval`` again and again and record how much later than asked the loop woke us.

    A lag means something held the loop (CPU work or a blocking call in a coroutine) and every request
    in flight waited that long; ``on_stall`` hears of each lag above ``report_above`` (to log it).
    Runs until cancelled.
    """
    while True:
        started = clock()
        await asyncio.sleep(interval)
        lag = max(0.0, clock() - started - interval)
        EVENT_LOOP_LAG.observe(lag)
        if on_stall is not None and lag > report_above:
            on_stall(lag)
