"""Per-request context as pure ASGI middleware: request id, trace span, metrics and an access log line."""

from __future__ import annotations

import json
import re
import time
import uuid

import structlog
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aiwfe import __version__
from aiwfe.core import tracing
from aiwfe.core.errors import internal_error
from aiwfe.core.logging import get_logger, redact_path
from aiwfe.core.metrics import HTTP_IN_FLIGHT, HTTP_LATENCY, HTTP_REQUESTS

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_RAW = REQUEST_ID_HEADER.encode()
# The only request headers this middleware reads: W3C trace context (traceparent, tracestate, baggage).
_TRACE_HEADERS = frozenset({b"traceparent", b"tracestate", b"baggage"})
HEALTH_PATH = "/health"
_HEALTH_BODY = json.dumps({"status": "ok", "version": __version__}).encode()
_HEALTH_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_HEALTH_BODY)).encode()),
]
# Accept a caller's request id only when it is short and plain, so it is safe to log and echo.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
UNMATCHED_ROUTE = "<unmatched>"

log = get_logger("aiwfe.api.access")


def _route_template(scope: Scope) -> str:
    # FastAPI >= 0.16x keeps included routers nested: the matched route's own path lacks the
    # include prefixes, and the full template lives in the effective route context.
    context = (scope.get("fastapi") or {}).get("effective_route_context")
    full = getattr(context, "path_format", None)
    if isinstance(full, str):
        return full
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


class RequestContextMiddleware:
    """Binds request_id and trace_id for the request's logs, echoes ``X-Request-ID``, records RED metrics.

    ``GET /health`` is answered here, before routing, tracing and the access log: a liveness probe must cost
    next to nothing and answer even when the rest of the stack is busy. It is still counted in the metrics.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.tracer = tracing.tracer("aiwfe.api")
        self._health_requests = HTTP_REQUESTS.labels("GET", HEALTH_PATH, "200")
        self._health_latency = HTTP_LATENCY.labels("GET", HEALTH_PATH)

    async def _health(self, scope: Scope, send: Send) -> None:
        started = time.perf_counter()
        offered = next((v.decode("latin-1") for k, v in scope["headers"] if k == _REQUEST_ID_RAW), "")
        request_id = offered if _VALID_REQUEST_ID.match(offered) else uuid.uuid4().hex
        headers = [*_HEALTH_HEADERS, (b"x-request-id", request_id.encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": _HEALTH_BODY})
        self._health_requests.inc()
        self._health_latency.observe(time.perf_counter() - started)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == HEALTH_PATH and scope["method"] == "GET":
            await self._health(scope, send)
            return

        # Decode only the few headers read here, not every header of every request.
        headers: dict[str, str] = {}
        offered = ""
        for key, value in scope["headers"]:
            if key == _REQUEST_ID_RAW:
                offered = value.decode("latin-1")
            elif key in _TRACE_HEADERS:
                headers[key.decode("latin-1")] = value.decode("latin-1")
        request_id = offered if _VALID_REQUEST_ID.match(offered) else uuid.uuid4().hex
        method = scope["method"]
        status_code = 500
        started = time.perf_counter()

        with self.tracer.start_as_current_span(
            f"{method} {scope['path']}",
            context=tracing.extract(headers) if headers else None,
            kind=SpanKind.SERVER,
        ) as span:
            trace_id = format(span.get_span_context().trace_id, "032x")
            structlog.contextvars.clear_contextvars()
            structlog.contextvars.bind_contextvars(request_id=request_id, trace_id=trace_id)
            scope.setdefault("state", {})["request_id"] = request_id

            response_started = False

            async def send_with_id(message: Message) -> None:
                nonlocal status_code, response_started
                if message["type"] == "http.response.start":
                    status_code = message["status"]
                    response_started = True
                    MutableHeaders(scope=message).append("X-Request-ID", request_id)
                await send(message)

            HTTP_IN_FLIGHT.inc()
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:
                span.record_exception(exc)
                path = redact_path(scope["path"])
                log.exception("unhandled_error", path=path, error_type=type(exc).__name__)
                if response_started:
                    raise  # too late for a problem body; the server closes the connection
                await internal_error(scope["path"])(scope, receive, send_with_id)
            finally:
                HTTP_IN_FLIGHT.dec()
                elapsed = time.perf_counter() - started
                route = _route_template(scope)
                span.update_name(f"{method} {route}")
                span.set_attribute("http.request.method", method)
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status_code)
                if status_code >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                HTTP_REQUESTS.labels(method, route, str(status_code)).inc()
                HTTP_LATENCY.labels(method, route).observe(elapsed)
                log.info(
                    "request",
                    method=method,
                    path=redact_path(scope["path"]),
                    route=route,
                    status=status_code,
                    duration_ms=round(elapsed * 1000, 2),
                    client=(scope.get("client") or ("", 0))[0],
                )
                structlog.contextvars.clear_contextvars()
