"""Calls to a sync source's server: a timeout on each, retries with exponential backoff (tenacity) for
outages, and a circuit breaker per host (purgatory, state kept in Redis so every worker shares it).

Every failure leaves as :class:`SyncFailed` carrying a sentence a user can act on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import urlsplit

import httpx
from caldav.lib import error as dav_error
from purgatory import AsyncCircuitBreakerFactory, AsyncRedisUnitOfWork
from purgatory.domain.model import OpenedState
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from aiwfe.core.logging import get_logger
from aiwfe.core.netguard import is_local_name, is_public_address
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
    # niquests (under caldav) raises OSError subclasses for connection failures and timeouts.
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


async def check_public(url: str, settings: Settings) -> None:
    """Refuse URLs resolving to loopback/private/link-local addresses (server-side request forgery)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SyncFailed(f"{url!r} is not an http(s) URL")
    if settings.calendar_sync_allow_private_hosts:
        return
    private = SyncFailed(
        f"{parts.hostname} is on a private or local network; sync sources must be public addresses"
    )
    if is_local_name(parts.hostname):
        raise private
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, parts.port or 443)
    except OSError:
        raise SyncFailed(f"the host {parts.hostname} cannot be resolved") from None
    if not all(is_public_address(str(info[4][0])) for info in infos):
        raise private


class Remote:
    """One sync run's connection to the outside: an httpx client and the shared circuit breakers."""

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.timeout = settings.calendar_sync_timeout_seconds
        self._uow = AsyncRedisUnitOfWork(settings.redis_url.get_secret_value())
        self.breakers = AsyncCircuitBreakerFactory(
            default_threshold=settings.calendar_sync_breaker_threshold,
            default_ttl=settings.calendar_sync_breaker_reset_seconds,
            # A remote saying 401 or 404 is up and answering: only outages open the circuit.
            exclude=[(Exception, lambda exc: not is_outage(exc))],
            uow=self._uow,
        )
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout),
            transport=transport,
            follow_redirects=True,
            headers={"User-Agent": "aiwfe-calendar-sync"},
            event_hooks={"request": [self._guard]},
        )

    async def _guard(self, request: httpx.Request) -> None:
        # Runs for redirects too, so a public URL cannot bounce the fetch to an internal address.
        await check_public(str(request.url), self.settings)

    async def aclose(self) -> None:
        await self.http.aclose()
        redis = getattr(self._uow.contexts, "redis", None)
        if redis is not None:
            await redis.aclose()

    async def __aenter__(self) -> Remote:
        await self.breakers.initialize()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def call(self, url: str, operation: Callable[[], Awaitable[T]]) -> T:
        """Run ``operation`` (an idempotent exchange with ``url``'s host) with retries inside its circuit."""
        label = host_label(url)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.calendar_sync_attempts),
            wait=wait_exponential(multiplier=self.settings.calendar_sync_backoff_seconds, max=10),
            retry=retry_if_exception(is_outage),
            reraise=True,
        )
        try:
            async with await self.breakers.get_breaker(f"aiwfe-calendar-sync:{label}"):
                async for attempt in retrying:
                    with attempt:
                        return await operation()
        except OpenedState:
            reset = self.settings.calendar_sync_breaker_reset_seconds
            raise SyncFailed(
                f"{label} failed repeatedly, so syncing with it is paused; the next try is in {reset} s"
            ) from None
        except SyncFailed:
            raise
        except Exception as exc:
            if not isinstance(exc, (httpx.HTTPError, dav_error.DAVError, OSError)):
                raise
            log.info("calendar_sync_remote_failed", host=label, error=type(exc).__name__)
            raise SyncFailed(describe(exc, label, self.timeout)) from exc
        raise AssertionError("unreachable: tenacity either returns or reraises")

    async def in_thread(self, url: str, function: Callable[[], T]) -> T:
        """Run a blocking client (caldav) in a thread, with the same retries and circuit."""

        async def run() -> T:
            return await asyncio.to_thread(function)

        return await self.call(url, run)
