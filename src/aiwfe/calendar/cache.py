"""Range-query pages, cached as finished JSON: in this process (LRU, bounded in bytes) in front of Redis
(shared by the API replicas, surviving restarts), and built once when several requests miss together.
Under them, each series' expansion over a range is kept by the row's ETag, so the page rebuilt after a
write re-expands only the series that changed.

Keys are page ETags, which name the user, the user's calendar stamp (``stamps.py``), the range, the page
and the expansion limit. Every commit that changes a calendar or its events gives its owner a new stamp, and
a stamp is never reused, so a write makes new keys rather than invalidating old ones: an entry is never
wrong for its key, stale ones are simply never asked for again and age out. A cache problem never fails a
read.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from aiwfe.core.logging import get_logger

log = get_logger(__name__)

# Bump when the page JSON changes shape: Redis entries outlive a deploy.
FORMAT = 2
REDIS_PREFIX = f"aiwfe:calendar:page:v{FORMAT}:"

# Series expansions kept per process (most are one or a few instances; a daily series' month is ~31).
EXPANSIONS = 4096

Build = Callable[[], Awaitable[bytes]]
T = TypeVar("T")


@dataclass
class _Flight:
    """Requests for one key that missed: the first builds, the others wait and then read its result."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


@dataclass
class CacheStats:
    memory_hits: int = 0
    redis_hits: int = 0
    builds: int = 0
    expansions_reused: int = 0


class PageCache:
    """``get_or_build(key, build)``: the cached page for ``key``, or ``build()``'s, stored for next time.

    ``ttl_seconds`` 0 turns caching off (every call builds); ``memory_bytes`` 0 keeps pages in Redis only.
    """

    def __init__(self, redis: Redis | None, *, ttl_seconds: int, memory_bytes: int) -> None:
        self.redis = redis
        self.ttl = ttl_seconds
        self.memory_bytes = memory_bytes if ttl_seconds else 0
        self.stats = CacheStats()
        self._memory: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._held = 0
        self._flights: dict[str, _Flight] = {}
        self._expansions: OrderedDict[Hashable, object] = OrderedDict()

    async def get_or_build(self, key: str, build: Build) -> bytes:
        if not self.ttl:
            self.stats.builds += 1
            return await build()
        body = self._recall(key)
        if body is not None:
            self.stats.memory_hits += 1
            return body
        flight = self._flights.setdefault(key, _Flight())
        flight.users += 1
        try:
            async with flight.lock:
                # Whoever held the lock before us may have just stored it.
                body = self._recall(key)
                if body is not None:
                    self.stats.memory_hits += 1
                    return body
                body = await self._redis_get(key)
                if body is not None:
                    self.stats.redis_hits += 1
                else:
                    self.stats.builds += 1
                    body = await build()
                    await self._redis_set(key, body)
                self._remember(key, body)
                return body
        finally:
            flight.users -= 1
            if not flight.users:
                del self._flights[key]

    def expansion(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, or its earlier result for ``key``, which must name the row's ETag and the range."""
        if not self.ttl:
            return compute()
        if key in self._expansions:
            self._expansions.move_to_end(key)
            self.stats.expansions_reused += 1
            return self._expansions[key]  # type: ignore[return-value]
        found = compute()
        self._expansions[key] = found
        if len(self._expansions) > EXPANSIONS:
            self._expansions.popitem(last=False)
        return found

    def knows_expansion(self, key: Hashable) -> bool:
        """Whether :meth:`expansion` would answer ``key`` without computing."""
        return bool(self.ttl) and key in self._expansions

    def clear(self) -> None:
        """Forget this process's pages and expansions (Redis entries stay: their keys are never reused)."""
        self._memory.clear()
        self._held = 0
        self._expansions.clear()

    # ---- the in-process tier -----------------------------------------------------------------

    def _recall(self, key: str) -> bytes | None:
        entry = self._memory.get(key)
        if entry is None:
            return None
        expires, body = entry
        if expires <= time.monotonic():
            self._forget(key)
            return None
        self._memory.move_to_end(key)
        return body

    def _remember(self, key: str, body: bytes) -> None:
        if len(body) > self.memory_bytes // 4:
            return  # one huge page must not push out everything else
        self._forget(key)
        self._memory[key] = (time.monotonic() + self.ttl, body)
        self._held += len(body)
        while self._held > self.memory_bytes:
            oldest = next(iter(self._memory))
            self._forget(oldest)

    def _forget(self, key: str) -> None:
        entry = self._memory.pop(key, None)
        if entry is not None:
            self._held -= len(entry[1])

    # ---- the shared tier ---------------------------------------------------------------------

    async def _redis_get(self, key: str) -> bytes | None:
        if self.redis is None:
            return None
        try:
            found = await self.redis.get(REDIS_PREFIX + key)
        except RedisError as exc:
            log.warning("calendar_page_cache_unavailable", error=str(exc))
            return None
        if found is None:
            return None
        return found.encode() if isinstance(found, str) else bytes(found)

    async def _redis_set(self, key: str, body: bytes) -> None:
        if self.redis is None:
            return
        try:
            await self.redis.set(REDIS_PREFIX + key, body, ex=self.ttl)
        except RedisError as exc:
            log.warning("calendar_page_cache_unavailable", error=str(exc))
