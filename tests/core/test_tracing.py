"""Tracing: one request gives one trace holding its SQL and Redis spans."""

from __future__ import annotations

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
