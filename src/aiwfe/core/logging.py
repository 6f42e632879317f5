"""JSON logging for every process: structlog for our code, stdlib records rendered the same way.

Each line carries timestamp, level, logger, event, and the request_id and trace_id bound to
the current request or task (``structlog.contextvars``), so one id follows a request into its tasks.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any, TextIO

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


class _NamedWriter(structlog.WriteLogger):
    """structlog's line writer, carrying the logger's name for ``add_logger_name``."""

    def __init__(self, name: str, stream: TextIO) -> None:
        super().__init__(stream)
        self.name = name


def configure_logging(level: str = "INFO", *, service: str = "aiwfe") -> None:
    """Route structlog and stdlib logging to one JSON line per record on stderr.

    Our own (structlog) lines are rendered by structlog and written straight to stderr: going through
    stdlib logging and its formatter cost each request's access line about three times as much CPU. Records
    of other libraries (uvicorn, celery, ...) still pass stdlib logging and are rendered the same way."""
    global _configured
    shared = _shared_processors()
    finish = [
        structlog.processors.format_exc_info,
        _add_service(service),
        structlog.processors.JSONRenderer(),
    ]
    # The stream the stdlib handler writes to as well (Celery replaces sys.stderr later in a worker).
    stream = sys.stderr

    def writer(*args: Any) -> _NamedWriter:
        return _NamedWriter(str(args[0]) if args else "", stream)

    numeric = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[*shared, *finish],
        logger_factory=writer,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *finish],
    )
    handler = logging.StreamHandler(stream)
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


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(name)
    return logger
