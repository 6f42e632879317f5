"""Rate limits (the ``limits`` library on Redis) and the growing lockout after failed logins."""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from typing import Any

from limits import parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from aiwfe.auth.errors import RateLimited
from aiwfe.core.settings import Settings

LOCK_KEY = "aiwfe:lockout:"


def _limits_uri(redis_url: str) -> str:
    scheme, _, rest = redis_url.partition("://")
    return f"async+{scheme}://{rest}"


def account_key(email: str) -> str:
    """Accounts are tracked by a hash of the normalised email, known or not (no enumeration)."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        # Same resilience as the main client: a Redis restart leaves stale pooled connections.
        client_options: dict[str, Any] = {
            "socket_connect_timeout": 2,
            "socket_timeout": 5,
            "health_check_interval": 30,
            "retry": Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=3),
            "retry_on_error": [RedisConnectionError, RedisTimeoutError],
        }
        storage = RedisStorage(
            _limits_uri(settings.redis_url.get_secret_value()),
            implementation="redispy",
            key_prefix="aiwfe:rl",
            **client_options,
        )
        self._limiter = MovingWindowRateLimiter(storage)

    async def hit(self, rule: str, *identifiers: str) -> None:
        """Count one request; raise ``RateLimited`` (429 with Retry-After) when over ``rule``."""
        item = parse(rule)
        if await self._limiter.hit(item, *identifiers):
            return
        stats = await self._limiter.get_window_stats(item, *identifiers)
        retry = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(f"too many requests; try again in {retry} s", retry_after=retry)


class Lockout:
    """After ``threshold`` failures an account is locked; each further failure doubles the lock."""

    def __init__(self, redis: Redis, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.threshold = settings.lockout_threshold
        self.base = settings.lockout_base_seconds
        self.max = settings.lockout_max_seconds
        self.clock = clock

    async def check(self, account: str) -> None:
        locked_until = await self.redis.hget(LOCK_KEY + account, "locked_until")
        if locked_until is not None:
            remaining = float(locked_until) - self.clock()
            if remaining > 0:
                raise RateLimited(
                    f"too many failed sign-ins; try again in {math.ceil(remaining)} s",
                    retry_after=math.ceil(remaining),
                )

    async def failed(self, account: str) -> float:
        """Record a failure; returns the lock duration now in force (0 when not locked)."""
        key = LOCK_KEY + account
        failures = int(await self.redis.hincrby(key, "failures", 1))
        duration = 0.0
        if failures >= self.threshold:
            duration = float(min(self.max, self.base * 2 ** (failures - self.threshold)))
            await self.redis.hset(key, "locked_until", self.clock() + duration)
        await self.redis.expire(key, self.max * 4)
        return duration

    async def succeeded(self, account: str) -> None:
        await self.redis.delete(LOCK_KEY + account)
