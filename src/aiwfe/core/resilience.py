"""Retries with backoff (tenacity) inside a circuit breaker (purgatory): the one way every call to another
system (sync sources, webhooks, identity providers, SMTP) is made resilient.

purgatory is the single breaker library: it has both an async and a sync breaker, and keeps state in
Redis when a circuit must be shared by every worker process.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from purgatory import (
    AsyncCircuitBreakerFactory,
    AsyncRedisUnitOfWork,
    SyncCircuitBreakerFactory,
)
from purgatory.domain.model import OpenedState
from tenacity import AsyncRetrying, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

T = TypeVar("T")
Breakers = AsyncCircuitBreakerFactory  # the type callers hold; purgatory is imported here only
Predicate = Callable[[BaseException], bool]


class CircuitOpen(Exception):
    """The circuit of ``name`` is open: the remote failed repeatedly; no call is made for ``reset`` s."""

    def __init__(self, name: str, reset: int) -> None:
        super().__init__(f"the circuit of {name} is open; the next try is in {reset} s")
        self.name = name
        self.reset = reset


@dataclass(frozen=True)
class Policy:
    """How hard to try: ``attempts`` tries, the first retry after ``backoff`` s (doubling, at most 10 s);
    ``threshold`` consecutive failures open the circuit for ``reset`` s. ``is_failure`` says which errors
    count (an answer like 401 or 404 means the remote is up); ``retry`` which ones are worth repeating."""

    attempts: int
    backoff: float
    threshold: int
    reset: int
    is_failure: Predicate
    retry: Predicate | None = None

    def retries(self) -> Predicate:
        return self.retry or self.is_failure


def async_breakers(policy: Policy, redis_url: str | None = None) -> AsyncCircuitBreakerFactory:
    """Circuits for async callers; with ``redis_url`` their state is shared by every process."""
    return AsyncCircuitBreakerFactory(
        default_threshold=policy.threshold,
        default_ttl=policy.reset,
        exclude=[(Exception, lambda exc: not policy.is_failure(exc))],
        uow=AsyncRedisUnitOfWork(redis_url) if redis_url else None,
    )


def sync_breakers(policy: Policy) -> SyncCircuitBreakerFactory:
    """Circuits for blocking callers, one set per process."""
    return SyncCircuitBreakerFactory(
        default_threshold=policy.threshold,
        default_ttl=policy.reset,
        exclude=[(Exception, lambda exc: not policy.is_failure(exc))],
    )


async def close_breakers(breakers: AsyncCircuitBreakerFactory) -> None:
    """Close the Redis connection of a factory made with ``redis_url`` (no-op otherwise)."""
    redis = getattr(getattr(breakers.uow, "contexts", None), "redis", None)
    if redis is not None:
        await redis.aclose()


async def call(
    breakers: AsyncCircuitBreakerFactory, name: str, policy: Policy, operation: Callable[[], Awaitable[T]]
) -> T:
    """Run ``operation`` with retries inside the circuit ``name``; raises :class:`CircuitOpen` or the
    operation's last error."""
    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait_exponential(multiplier=policy.backoff, max=10),
        retry=retry_if_exception(policy.retries()),
        reraise=True,
    )
    try:
        async with await breakers.get_breaker(name):
            async for attempt in retrying:
                with attempt:
                    return await operation()
    except OpenedState:
        raise CircuitOpen(name, policy.reset) from None
    raise AssertionError("unreachable: tenacity either returns or reraises")


def call_sync(
    breakers: SyncCircuitBreakerFactory, name: str, policy: Policy, operation: Callable[[], T]
) -> T:
    """:func:`call` for blocking code."""
    retrying = Retrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait_exponential(multiplier=policy.backoff, max=10),
        retry=retry_if_exception(policy.retries()),
        reraise=True,
    )
    try:
        with breakers.get_breaker(name):
            for attempt in retrying:
                with attempt:
                    return operation()
    except OpenedState:
        raise CircuitOpen(name, policy.reset) from None
    raise AssertionError("unreachable: tenacity either returns or reraises")
