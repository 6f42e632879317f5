"""The real worker: runs tasks, beats, answers worker-health, exposes task metrics, keeps trace ids."""

from __future__ import annotations

import json
import subprocess
import time

import httpx
import redis
import structlog
from opentelemetry import trace
from tests.processes import RunningProcess

from aiwfe.core.heartbeat import heartbeat_key
from aiwfe.core.settings import Settings
from aiwfe.core.tracing import configure_tracing
from aiwfe.worker.app import create_celery
from aiwfe.worker.tasks import ping


def test_a_task_sent_to_the_worker_completes_with_its_result(
    worker: RunningProcess, base_settings: Settings
) -> None:
    app = create_celery(base_settings)
    result = app.send_task(ping.name, kwargs={"payload": {"n": 1}})
    assert result.get(timeout=30)["pong"] == {"n": 1}


def test_the_worker_heartbeat_is_refreshed(worker: RunningProcess, base_settings: Settings) -> None:
    client = redis.Redis.from_url(base_settings.redis_url.get_secret_value())
    key = heartbeat_key("worker", worker.name)
    first = float(client.get(key) or 0)
    time.sleep(2.5)
    second = float(client.get(key) or 0)
    assert second > first
    assert time.time() - second < 5  # the worker process writes its beat on the real clock


def test_worker_health_exits_zero_for_a_live_worker_and_one_otherwise(
    worker: RunningProcess, aiwfe_bin: str
) -> None:
    ok = subprocess.run(
        [aiwfe_bin, "worker-health", "--name", worker.name], env=worker.env, capture_output=True
    )
    assert ok.returncode == 0, ok.stderr
    missing = subprocess.run(
        [aiwfe_bin, "worker-health", "--name", "celery@nobody", "--timeout", "1"],
        env=worker.env,
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 1
    assert "did not answer" in missing.stderr


def test_task_metrics_count_runs_and_failures_by_task_name(
    worker: RunningProcess, base_settings: Settings
) -> None:
    app = create_celery(base_settings)
    app.send_task(ping.name, kwargs={"payload": "m"}).get(timeout=30)
    failing = app.send_task(ping.name, kwargs={"sleep_seconds": "not-a-number"})
    failing.get(timeout=30, propagate=False)
    assert failing.state == "FAILURE"
    text = httpx.get(f"http://127.0.0.1:{worker.metrics_port}/metrics", timeout=5).text
    assert 'aiwfe_celery_tasks_total{state="success",task="aiwfe.system.ping"}' in text
    assert 'aiwfe_celery_tasks_total{state="failure",task="aiwfe.system.ping"}' in text
    assert 'aiwfe_celery_task_duration_seconds_count{task="aiwfe.system.ping"}' in text
    assert 'aiwfe_celery_queue_length{queue="celery"} 0.0' in text


def test_the_publishers_trace_and_request_ids_reach_the_task_log(
    worker: RunningProcess, base_settings: Settings
) -> None:
    configure_tracing("aiwfe-test", None)
    app = create_celery(base_settings)
    import aiwfe.worker.signals  # noqa: F401  (connects before_task_publish)

    with trace.get_tracer("test").start_as_current_span("publish") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
        structlog.contextvars.bind_contextvars(request_id="req-trace-test")
        try:
            app.send_task(ping.name, kwargs={"payload": "traced"}).get(timeout=30)
        finally:
            structlog.contextvars.clear_contextvars()

    lines = [json.loads(line) for line in worker.log_lines() if line.startswith("{")]
    ping_lines = [line for line in lines if line.get("event") == "ping" and line.get("payload") == "traced"]
    assert ping_lines, "the task's log line is missing"
    assert ping_lines[0]["trace_id"] == trace_id
    assert ping_lines[0]["request_id"] == "req-trace-test"
    for field in ("timestamp", "level", "logger", "task_id"):
        assert field in ping_lines[0]
