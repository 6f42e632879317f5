"""How many progress streams each user holds open, counted in Redis across every API replica.

Each open stream is a member of the user's sorted set, scored with the time it lapses unless refreshed; a
stream refreshes its member at every poll, so one whose replica died stops counting soon after on its own.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from redis.asyncio import Redis

from aiwfe.core.crypto import new_token
from aiwfe.core.settings import Settings
from aiwfe.jobs.errors import TooManyStreams

KEY = "aiwfe:job-streams:"


class StreamSlots:
    def __init__(self, redis: Redis, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.limit = settings.jobs_events_max_streams_per_user
        # Long enough that a live stream (refreshed each poll, or at least each heartbeat) never lapses.
        self.lapse = max(
            30.0, 3 * settings.jobs_events_heartbeat_seconds, 10 * settings.jobs_events_poll_seconds
        )
        self.clock = clock

    async def acquire(self, user_id: uuid.UUID) -> str:
        """A slot for a new stream; raises ``TooManyStreams`` (429) when the user holds the limit."""
        key, slot, now = KEY + str(user_id), new_token(12), self.clock()
        # Add first, then count: two streams opened at once cannot both slip under the limit.
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.zadd(key, {slot: now + self.lapse})
            pipe.zcard(key)
            pipe.expire(key, int(self.lapse) + 1)
            held = (await pipe.execute())[2]
        if int(held) > self.limit:
            await self.redis.zrem(key, slot)
            raise TooManyStreams(
                f"you have {self.limit} progress streams open already; close one (another tab) and retry",
                headers={"Retry-After": str(int(self.lapse))},
            )
        return slot

    async def refresh(self, user_id: uuid.UUID, slot: str) -> None:
        key = KEY + str(user_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {slot: self.clock() + self.lapse}, xx=True)
            pipe.expire(key, int(self.lapse) + 1)
            await pipe.execute()

    async def release(self, user_id: uuid.UUID, slot: str) -> None:
        await self.redis.zrem(KEY + str(user_id), slot)
