"""Tracing: one request gives one trace holding its SQL and Redis spans."""

from __future__ import annotations

import subprocess
import sys

from httpx import AsyncClient
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from tests.auth.conftest import bearer, login_token, register

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


async def test_hot_path_statements_are_spans_of_their_request(client: AsyncClient) -> None:
    """Range reads and event writes skip SQLAlchemy (core/sql.py), so its instrumentation does not see them:
    each statement makes its own span, a child of the request's."""
    await register(client, "traced@example.com")
    headers = bearer(await login_token(client, "traced@example.com"))
    exporter = InMemorySpanExporter()
    tracing.add_span_processor(SimpleSpanProcessor(exporter))
    traceparent = {"traceparent": "00-" + "ef" * 16 + "-" + "cd" * 8 + "-01"}
    query = {"start": "2027-03-01T00:00:00Z", "end": "2027-03-08T00:00:00Z"}
    response = await client.get("/api/v1/events", params=query, headers={**headers, **traceparent})
    assert response.status_code == 200, response.text
    spans = [s for s in exporter.get_finished_spans() if s.context.trace_id == int("ef" * 16, 16)]
    statements = {s.name: s for s in spans if s.name.startswith("calendar.rows.")}
    assert set(statements) == {"calendar.rows.owned"}, [s.name for s in spans]  # no calendars: no events read
    (server,) = [s for s in spans if s.kind is SpanKind.SERVER]
    span = statements["calendar.rows.owned"]
    assert span.kind is SpanKind.CLIENT
    assert span.attributes["db.system"] == "postgresql"
    assert span.parent is not None
    assert span.context.trace_id == server.context.trace_id


def test_spans_are_recorded_only_once_something_consumes_them() -> None:
    """Without an exporter or processor a span is a non-recording context that still has a trace id (log
    lines carry it, an incoming traceparent is continued); attaching a processor turns recording on."""
    script = """
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from aiwfe.core import tracing
from tests.auth.conftest import bearer, login_token, register

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
