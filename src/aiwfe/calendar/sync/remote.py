"""Calls to a sync source's server: through the guarded outbound client (aiwfe.core.outbound) for the URLs
users give, a timeout on each, retries with exponential backoff for outages, and a circuit breaker per host
(aiwfe.core.resilience, state kept in Redis so every worker shares it).

Every failure leaves as :class:`SyncFailed` carrying a sentence a user can act on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import urlsplit

import httpx
from caldav.lib import error as dav_error

from aiwfe.core import outbound, resilience
from aiwfe.core.logging import get_logger
from aiwfe.core.settings import Settings
from aiwfe.oauth.resilience import is_outage as is_http_outage

T = TypeVar("T")
log = get_logger(__name__)


class SyncFailed(Exception):
    """A sync run failed; ``str(exc)`` is the sentence shown as the calendar's ``sync_error``."""


class TokenExpired(SyncFailed):
    """The remote no longer accepts our incremental token (Google 410, CalDAV invalid sync-token)."""


def _status(exc: BaseException) -> int | None:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code
    if isinstance(exc, dav_error.DAVError):
        return exc.status
    return None


def is_outage(exc: BaseException) -> bool:
    """The remote is down, overloaded or unreachable: retry, and count towards opening the circuit."""
    if is_http_outage(exc):
        return True
    status = _status(exc)
    if status is not None:
        return status >= 500 or status == 429
    return isinstance(exc, OSError) and not isinstance(exc, dav_error.DAVError)


def describe(exc: BaseException, label: str, timeout: float) -> str:
    """A human sentence for a failed call to ``label`` (a host)."""
    if isinstance(exc, SyncFailed):
        return str(exc)
    status = _status(exc)
    if isinstance(exc, dav_error.AuthorizationError) and status is None:
        status = 401
    if isinstance(exc, dav_error.NotFoundError) and status is None:
        status = 404
    if status in (401, 403):
        return f"{label} refused the credentials (HTTP {status}); check the user name and password"
    if status == 404:
        return f"{label} has nothing at this address (HTTP 404); check the URL"
    if status is not None:
        return f"{label} answered HTTP {status}"
    if isinstance(exc, (httpx.TimeoutException, TimeoutError)) or "timed out" in str(exc).lower():
        return f"{label} did not answer within {timeout:g} s"
    if isinstance(exc, (httpx.TransportError, OSError)):
        return f"cannot connect to {label}"
    return f"the exchange with {label} failed ({type(exc).__name__})"


def host_label(url: str) -> str:
    return urlsplit(url).netloc.rsplit("@", 1)[-1] or url


def policy(settings: Settings) -> resilience.Policy:
    return resilience.Policy(
        attempts=settings.calendar_sync_attempts,
        backoff=settings.calendar_sync_backoff_seconds,
        threshold=settings.calendar_sync_breaker_threshold,
        reset=settings.calendar_sync_breaker_reset_seconds,
        is_failure=is_outage,
    )


def limits(settings: Settings) -> outbound.Limits:
    return outbound.Limits(
        timeout=settings.calendar_sync_timeout_seconds,
        total=settings.calendar_sync_total_seconds,
        max_bytes=settings.calendar_sync_max_bytes,
    )


async def check_source_url(url: str, settings: Settings, guard: outbound.Guard | None = None) -> None:
    """A source URL we will call: http(s), no credentials, a host on permitted addresses. Raises
    :class:`outbound.Refused` with a sentence about the URL."""
    await (guard or outbound.Guard.from_settings(settings)).check_url(url)


class Remote:
    """One sync run's connection to the outside: ``outbound``, the guarded client for the source URL a
    user gave; ``http``, a plain client for operator-configured APIs (Google); the shared circuits."""

    def __init__(
        self,
        settings: Settings,
        transport: httpx.AsyncBaseTransport | None = None,
        guard: outbound.Guard | None = None,
    ) -> None:
        self.settings = settings
        self.timeout = settings.calendar_sync_timeout_seconds
        self.guard = guard or outbound.Guard.from_settings(settings)
        self.policy = policy(settings)
        self.breakers = resilience.async_breakers(self.policy, settings.redis_url.get_secret_value())
        self.outbound = outbound.client(
            self.guard, limits(settings), user_agent="aiwfe-calendar-sync", transport=transport
        )
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout),
            transport=transport,
            follow_redirects=True,
            headers={"User-Agent": "aiwfe-calendar-sync"},
        )

    async def aclose(self) -> None:
        await self.outbound.aclose()
        await self.http.aclose()
        await resilience.close_breakers(self.breakers)

    async def __aenter__(self) -> Remote:
        await self.breakers.initialize()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def call(self, url: str, operation: Callable[[], Awaitable[T]]) -> T:
        """Run ``operation`` (an idempotent exchange with ``url``'s host) with retries inside its circuit."""
        label = host_label(url)
        try:
            return await resilience.call(
                self.breakers, f"aiwfe-calendar-sync:{label}", self.policy, operation
            )
        except resilience.CircuitOpen as exc:
            raise SyncFailed(
                f"{label} failed repeatedly, so syncing with it is paused; the next try is in {exc.reset} s"
            ) from None
        except SyncFailed:
            raise
        except outbound.OutboundError as exc:
            log.info("calendar_sync_remote_refused", host=label, error=str(exc))
            raise SyncFailed(str(exc)) from None
        except Exception as exc:
            if not isinstance(exc, (httpx.HTTPError, dav_error.DAVError, OSError)):
                raise
            log.info("calendar_sync_remote_failed", host=label, error=type(exc).__name__)
            raise SyncFailed(describe(exc, label, self.timeout)) from exc
