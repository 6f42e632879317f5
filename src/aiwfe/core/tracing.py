"""OpenTelemetry tracing: a tracer provider per process, W3C trace context across HTTP and Celery.

Every request and task has a trace context (so every log line has a trace id, and an incoming
``traceparent`` is continued); spans are recorded only when something consumes them: the OTLP exporter
(``AIWFE_OTLP_ENDPOINT`` set) or a processor added with ``add_span_processor``. Without one a span is a
non-recording context: building and dropping full spans for each SQL statement and Redis command cost ~10 %
of a write's CPU for nothing (bench/api.py --profile). For the same reason the libraries (SQLAlchemy, Redis,
httpx) are instrumented only once something consumes spans: a wrapper per Redis command that makes a span
nobody records still cost ~20 us each.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence

from opentelemetry import context, propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes


class _WhenConsumed(Sampler):
    """Record and sample every span once a span processor is attached; until then drop them (the span
    context, with its trace id, still exists and propagates)."""

    def __init__(self) -> None:
        self.consumed = False

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        if self.consumed:
            return ALWAYS_ON.should_sample(
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )
        return SamplingResult(
            Decision.DROP, None, trace.get_current_span(parent_context).get_span_context().trace_state
        )

    def get_description(self) -> str:
        return "WhenConsumed"


_provider: TracerProvider | None = None
_sampler = _WhenConsumed()


def configure_tracing(service: str, otlp_endpoint: str | None) -> None:
    """Install the process's tracer provider once; add an OTLP exporter when an endpoint is set."""
    global _provider
    if _provider is not None:
        return
    provider = TracerProvider(resource=Resource.create({"service.name": service}), sampler=_sampler)
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint, timeout=5)))
        _sampler.consumed = True
    trace.set_tracer_provider(provider)
    _provider = provider
    if _sampler.consumed:
        _instrument_libraries()


_instrumented = False


def _instrument_libraries() -> None:
    """Spans for every SQL statement, Redis command and outbound httpx call, in this process: the engines
    made so far and every one made later; Redis and httpx clients whatever their age (their classes are
    wrapped)."""
    global _instrumented
    if _instrumented:
        return
    _instrumented = True
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    from aiwfe.core.db import engines

    # The instrumentation declares SQLAlchemy < 2.1; the engine events it listens to are unchanged in 2.1,
    # and tests/core/test_tracing.py proves the spans arrive.
    SQLAlchemyInstrumentor().instrument(skip_dep_check=True, engines=engines())
    RedisInstrumentor().instrument()
    HTTPXClientInstrumentor().instrument()


def add_span_processor(processor: SpanProcessor) -> None:
    """Attach another span processor (tests read spans this way)."""
    if _provider is None:
        raise RuntimeError("configure_tracing() has not run in this process")
    _provider.add_span_processor(processor)
    _sampler.consumed = True
    _instrument_libraries()


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def inject(carrier: MutableMapping[str, str]) -> None:
    """Write the current trace context (``traceparent``) into a header mapping."""
    propagate.inject(carrier)


def extract(carrier: Mapping[str, str]) -> context.Context:
    """Read a trace context from a header mapping (empty context when there is none)."""
    return propagate.extract(carrier)


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None
