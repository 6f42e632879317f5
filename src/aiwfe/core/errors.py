"""Domain errors as types, and the one place that turns any error into an RFC 9457 problem.

Domains raise subclasses of :class:`AppError`; the handlers here map them (and framework
errors) to ``application/problem+json`` bodies with ``type``, ``title``, ``status`` and ``detail``.
No traceback ever reaches a client: unexpected exceptions are logged and answered with a plain 500.
"""

from __future__ import annotations

from typing import Any, ClassVar

import asyncpg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from aiwfe.core import sql
from aiwfe.core.logging import get_logger, redact_path

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_BASE = "https://aiwfe.dev/problems/"

log = get_logger(__name__)


class AppError(Exception):
    """Base of every domain error. Subclasses set the class attributes; ``detail`` is per instance."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra
        self.headers = headers


class NotFoundError(AppError):
    status = 404
    code = "not-found"
    title = "Not found"


class ConflictError(AppError):
    status = 409
    code = "conflict"
    title = "Conflict"


class DependencyUnavailableError(AppError):
    status = 503
    code = "dependency-unavailable"
    title = "A service this request needs is unavailable"


_HTTP_TITLES = {
    400: ("bad-request", "Bad request"),
    401: ("unauthenticated", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("validation-error", "The request is not valid"),
    429: ("rate-limited", "Too many requests"),
    500: ("internal-error", "Internal server error"),
    503: ("unavailable", "Service unavailable"),
}


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """Build a problem+json response."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(
        jsonable_encoder(body), status_code=status, media_type=PROBLEM_CONTENT_TYPE, headers=headers
    )


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return problem(
        exc.status,
        exc.code,
        exc.title,
        exc.detail,
        instance=request.url.path,
        headers=exc.headers,
        **exc.extra,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code, title = _HTTP_TITLES.get(exc.status_code, ("http-error", "HTTP error"))
    detail = exc.detail if isinstance(exc.detail, str) else title
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"No route matches {request.method} {request.url.path}"
    return problem(
        exc.status_code,
        code,
        title,
        detail,
        instance=request.url.path,
        headers=dict(exc.headers) if exc.headers else None,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return problem(
        422,
        "validation-error",
        "The request is not valid",
        f"{where}: {first['msg']}",
        instance=request.url.path,
        errors=errors,
    )


def internal_error(path: str) -> JSONResponse:
    """The answer to an unexpected exception: no traceback, only where to look (the request id)."""
    return problem(
        500,
        "internal-error",
        "Internal server error",
        "The server failed to handle this request; it has been logged with its request id.",
        instance=path,
    )


async def _dependency_down(request: Request, exc: Exception) -> JSONResponse:
    """PostgreSQL or Redis unreachable mid-request: a 503 the client may retry, not a 500."""
    log.warning("dependency_unavailable", path=redact_path(request.url.path), error_type=type(exc).__name__)
    return problem(
        503,
        "dependency-unavailable",
        "A service this request needs is unavailable",
        "The database or cache did not answer; try again shortly.",
        instance=request.url.path,
        headers={"Retry-After": "5"},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    # PoolTimeoutError: every pooled connection stayed busy for db_pool_timeout_seconds (overload), retryable.
    dependency_errors = (
        RedisConnectionError,
        RedisTimeoutError,
        OperationalError,
        InterfaceError,
        PoolTimeoutError,
        # The same, met on the hot path's own asyncpg calls (core/sql.py).
        *sql.DRIVER_DOWN,
        asyncpg.QueryCanceledError,
    )
    for dependency_error in dependency_errors:
        app.add_exception_handler(dependency_error, _dependency_down)
    # Unexpected exceptions are answered by RequestContextMiddleware, which still holds the request id.
