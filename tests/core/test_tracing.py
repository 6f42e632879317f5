"""Tracing: one request gives one trace holding its SQL and Redis spans."""

from __future__ import annotations

import subprocess
import sys

from httpx import AsyncClient
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from aiwfe.core import tracing


async def test_a_request_trace_holds_its_database_and_redis_spans(client: AsyncClient) -> None:
    exporter = InMemorySpanExporter()
    tracing.add_span_processor(SimpleSpanProcessor(exporter))
    response = await client.get("/ready", headers={"traceparent": "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"})
    assert response.status_code == 200
    spans = [s for s in exporter.get_finished_spans() if s.context.trace_id == int("ab" * 16, 16)]
    server = [s for s in spans if s.kind is SpanKind.SERVER]
    assert [s.name for s in server] == ["GET /ready"]
    clients = {
        s.attributes.get("db.system") or s.attributes.get("db.system.name")
        for s in spans
        if s.kind is SpanKind.CLIENT
    }
    assert {"postgresql", "redis"} <= clients, [(s.name, dict(s.attributes or {})) for s in spans]


def test_spans_are_recorded_only_once_something_consumes_them() -> None:
    """Without an exporter or processor a span is a non-recording context that still has a trace id (log
    lines carry it, an incoming traceparent is continued); attaching a processor turns recording on."""
    script = """
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from aiwfe.core import tracing

tracing.configure_tracing("probe", None)
tracer = tracing.tracer("probe")
with tracer.start_as_current_span("dropped") as span:
    assert not span.is_recording()
    assert tracing.current_trace_id() is not None
parent = tracing.extract({"traceparent": "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"})
with tracer.start_as_current_span("continued", context=parent):
    assert tracing.current_trace_id() == "ab" * 16
exporter = InMemorySpanExporter()
tracing.add_span_processor(SimpleSpanProcessor(exporter))
with tracer.start_as_current_span("kept") as span:
    assert span.is_recording()
assert [s.name for s in exporter.get_finished_spans()] == ["kept"]
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
