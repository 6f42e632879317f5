"""Calls to a provider: an httpx client with timeouts, retries with backoff and a circuit breaker per provider
(aiwfe.core.resilience), so an outage becomes a quick 503 problem instead of hung requests or a crash.

Provider endpoints come from the operator's configuration (``AIWFE_OAUTH_PROVIDERS``), never from a user,
so these calls do not go through the outbound guard (docs/security.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from aiwfe.core import resilience
from aiwfe.core.logging import get_logger
from aiwfe.core.settings import Settings
from aiwfe.oauth.errors import ProviderMisconfigured, ProviderRefused, ProviderUnavailable

T = TypeVar("T")
log = get_logger(__name__)

# Nothing was sent: safe to try again whatever the request was.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _outage_status(status: int) -> bool:
    return status >= 500 or status == 429


def is_outage(exc: BaseException) -> bool:
    """Failures that say the provider is down or overloaded (they count towards opening the circuit)."""
    if isinstance(exc, httpx.HTTPStatusError):
        return _outage_status(exc.response.status_code)
    return isinstance(exc, httpx.TransportError)


def _retryable(idempotent: bool) -> Callable[[BaseException], bool]:
    def check(exc: BaseException) -> bool:
        if isinstance(exc, _NOT_SENT):
            return True
        # A token request may have been used up by the provider even if its answer was lost: no retry.
        return idempotent and is_outage(exc)

    return check


class ProviderCalls:
    """Every HTTP call to one provider goes through :meth:`call` (or :meth:`get_json`)."""

    def __init__(
        self,
        name: str,
        label: str,
        settings: Settings,
        breakers: resilience.Breakers,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self.label = label
        self.settings = settings
        self.breakers = breakers
        self.timeout = httpx.Timeout(settings.oauth_http_timeout_seconds)
        self.transport = transport
        self.http = httpx.AsyncClient(
            timeout=self.timeout,
            transport=transport,
            headers={"User-Agent": "aiwfe", "Accept": "application/json"},
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def call(self, operation: Callable[[], Awaitable[T]], *, idempotent: bool) -> T:
        """Run ``operation`` (one HTTP exchange) with retries inside this provider's circuit breaker."""
        policy = resilience.Policy(
            attempts=self.settings.oauth_http_attempts,
            backoff=self.settings.oauth_retry_backoff_seconds,
            threshold=self.settings.oauth_breaker_threshold,
            reset=self.settings.oauth_breaker_reset_seconds,
            is_failure=is_outage,
            retry=_retryable(idempotent),
        )
        try:
            return await resilience.call(self.breakers, self.name, policy, operation)
        except resilience.CircuitOpen:
            reset = self.settings.oauth_breaker_reset_seconds
            raise ProviderUnavailable(
                f"{self.label} is failing; sign-in through it is paused, try again in {reset} s",
                headers={"Retry-After": str(reset)},
                provider=self.name,
            ) from None
        except Exception as exc:
            if not is_outage(exc):
                raise
            log.warning("oauth_provider_unavailable", provider=self.name, error=type(exc).__name__)
            raise ProviderUnavailable(
                f"{self.label} cannot be reached right now; try again later", provider=self.name
            ) from exc

    async def get_json(self, url: str, **kwargs: Any) -> Any:
        """GET a JSON document (discovery, keys, user info): idempotent, so retried on 5xx too."""

        async def fetch() -> Any:
            response = await self.http.get(url, **kwargs)
            if _outage_status(response.status_code):
                response.raise_for_status()
            if response.status_code >= 400:
                raise ProviderRefused(f"{self.label} answered HTTP {response.status_code} for {url}")
            try:
                return response.json()
            except ValueError:
                raise ProviderMisconfigured(f"{self.label} answered {url} with something not JSON") from None

        return await self.call(fetch, idempotent=True)


def breaker_factory(settings: Settings) -> resilience.Breakers:
    """One factory per process; each provider gets its own named circuit from it. Only outages open a
    circuit: a provider saying "invalid_grant" or 404 is up and answering."""
    return resilience.async_breakers(
        resilience.Policy(
            attempts=settings.oauth_http_attempts,
            backoff=settings.oauth_retry_backoff_seconds,
            threshold=settings.oauth_breaker_threshold,
            reset=settings.oauth_breaker_reset_seconds,
            is_failure=is_outage,
        )
    )
