"""Celery signal handlers: JSON logs, trace context from publisher to task, task metrics, metrics server."""

from __future__ import annotations

import time
from typing import Any

import structlog
from celery import Celery, Task, signals
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from aiwfe.core import tracing
from aiwfe.core.logging import configure_logging, get_logger
from aiwfe.core.settings import Settings
from aiwfe.worker import metrics

log = get_logger(__name__)
_tracer = tracing.tracer("aiwfe.worker")
# task id -> (span, context token, start time); a child runs one task at a time, so this stays tiny.
_running: dict[str, tuple[Any, Any, float]] = {}
REQUEST_ID_HEADER = "aiwfe_request_id"


def connect(app: Celery, settings: Settings) -> None:
    """Wire every handler for ``app``; called once when the Celery app module is imported."""

    @signals.setup_logging.connect(weak=False)
    def _setup_logging(**_: Any) -> None:
        configure_logging(settings.log_level, service=f"{settings.service_name}-worker")

    @signals.worker_init.connect(weak=False)
    def _worker_init(sender: Any = None, **_: Any) -> None:
        configure_tracing_once(settings)
        if settings.worker_metrics_port:
            metrics.serve(
                settings.worker_metrics_host,
                settings.worker_metrics_port,
                settings.celery_broker_url,
                [app.conf.task_default_queue],
            )
            log.info("worker_metrics_serving", port=settings.worker_metrics_port)

    @signals.worker_process_init.connect(weak=False)
    def _child_init(**_: Any) -> None:
        configure_tracing_once(settings)

    @signals.worker_process_shutdown.connect(weak=False)
    def _child_shutdown(pid: int | None = None, **_: Any) -> None:
        if pid:
            metrics.mark_process_dead(pid)

    @signals.beat_init.connect(weak=False)
    def _beat_init(**_: Any) -> None:
        configure_tracing_once(settings)


def configure_tracing_once(settings: Settings) -> None:
    tracing.configure_tracing(f"{settings.service_name}-worker", settings.otlp_endpoint)


@signals.before_task_publish.connect
def _inject_trace(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """Carry the publisher's trace context and request id in the message headers."""
    if headers is None:
        return
    carrier: dict[str, str] = {}
    tracing.inject(carrier)
    headers.update(carrier)
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    if request_id:
        headers[REQUEST_ID_HEADER] = request_id


@signals.task_prerun.connect
def _task_started(task_id: str | None = None, task: Task[Any, Any] | None = None, **_: Any) -> None:
    if task_id is None or task is None:
        return
    carrier = {
        key: value
        for key in ("traceparent", "tracestate")
        if isinstance(value := getattr(task.request, key, None), str)
    }
    span = _tracer.start_span(task.name, context=tracing.extract(carrier), kind=SpanKind.CONSUMER)
    token = otel_context.attach(trace.set_span_in_context(span))
    ctx = span.get_span_context()
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(
        trace_id=format(ctx.trace_id, "032x"),
        request_id=getattr(task.request, REQUEST_ID_HEADER, None),
        task_id=task_id,
        task=task.name,
    )
    _running[task_id] = (span, token, time.perf_counter())


@signals.task_postrun.connect
def _task_finished(
    task_id: str | None = None, task: Task[Any, Any] | None = None, state: str | None = None, **_: Any
) -> None:
    if task_id is None or task is None:
        return
    entry = _running.pop(task_id, None)
    outcome = (state or "UNKNOWN").lower()
    metrics.TASKS.labels(task.name, outcome).inc()
    if entry is None:
        return
    span, token, started = entry
    metrics.TASK_DURATION.labels(task.name).observe(time.perf_counter() - started)
    if outcome == "failure":
        span.set_status(Status(StatusCode.ERROR))
    span.end()
    otel_context.detach(token)
    structlog.contextvars.clear_contextvars()
