"""JSON logging for every process: structlog for our code, stdlib records rendered the same way.

Each line carries timestamp, level, logger, event, and the request_id and trace_id bound to
the current request or task (``structlog.contextvars``), so one id follows a request into its tasks.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog
from opentelemetry import trace

_configured = False
# Paths that carry a secret: the calendar feed's token is the whole credential of its URL.
_SECRET_PATH = re.compile(r"(/feeds/)[^/]+?(\.ics)?$")
REDACTED = "[redacted]"


def redact_path(path: str) -> str:
    """``path`` fit for a log line: secret segments replaced."""
    return _SECRET_PATH.sub(rf"\g<1>{REDACTED}\g<2>", path)


def _add_trace_ids(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Fill trace_id from the active OpenTelemetry span when the context has none bound."""
    if not event_dict.get("trace_id"):
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            event_dict["trace_id"] = format(ctx.trace_id, "032x")
            event_dict["span_id"] = format(ctx.span_id, "016x")
    event_dict.setdefault("request_id", None)
    event_dict.setdefault("trace_id", None)
    return event_dict


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_ids,
    ]


def configure_logging(level: str = "INFO", *, service: str = "aiwfe") -> None:
    """Route structlog and stdlib logging to one JSON line per record on stderr."""
    global _configured
    shared = _shared_processors()
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _add_service(service),
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    # uvicorn and celery install their own handlers; make them propagate to ours instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery", "celery.task", "celery.worker"):
        named = logging.getLogger(name)
        named.handlers = []
        named.propagate = True
    # Our middleware logs each request with ids and timings; uvicorn's access line would repeat it.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    _configured = True


def _add_service(service: str) -> Any:
    def add(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        event_dict.setdefault("service", service)
        return event_dict

    return add


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
