"""Per-user calendar stamps in Redis: the value a user's cached calendar pages are named by.

The session's Lua call (auth/sessions.py) reads the stamp in the same round trip as the session; the hooks
that bump it after every commit that changes a calendar or its events are in calendar/stamps.py. This part
knows only Redis, so the layers below the calendar domain (auth) can read a stamp.

A stamp is never reused: it is random and carries the Redis server's run id, so a flushed Redis (no stamp)
or one restarted from disk or failed over gives a new stamp, and no page cached before is asked for again.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable

from redis.asyncio import Redis

from aiwfe.core.settings import Settings

PREFIX = "aiwfe:calendar-stamp:"
# Bumped (to a new random value) by a bulk statement whose owners cannot be told: every user's pages go.
EVERYONE = "aiwfe:calendar-stamp"
# Lua, shared with the session script: the stamp of user ``uid``, made fresh when missing or of another
# run of this server, followed by the everyone-stamp.
LUA_FUNCTION = """
local function calendar_stamp(uid, prefix, everyone, fresh, ttl)
  local key = prefix .. uid
  local run = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') .. ':'
  local stamp = redis.call('GET', key)
  if not stamp or string.sub(stamp, 1, #run) ~= run then
    stamp = run .. fresh
    redis.call('SET', key, stamp, 'EX', ttl)
  end
  return stamp .. '/' .. (redis.call('GET', everyone) or '0')
end
"""
_READ_SCRIPT = LUA_FUNCTION + "return calendar_stamp(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])"


def stamp_seconds(settings: Settings) -> int:
    """How long a stamp lives: as long as a cached page (at least a minute, so ETags still answer 304s
    with caching off)."""
    return max(settings.calendar_cache_seconds, 60)


def fresh() -> str:
    return secrets.token_hex(8)


class CalendarStamps:
    """Read a user's stamp, and bump owners' stamps after a commit."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.ttl = stamp_seconds(settings)
        self._read = redis.register_script(_READ_SCRIPT)

    async def read(self, user_id: uuid.UUID) -> str:
        """The stamp of ``user_id`` (one round trip; a read with the session's snapshot has it already)."""
        found = await self._read(args=[str(user_id), PREFIX, EVERYONE, fresh(), self.ttl])
        return found.decode() if isinstance(found, bytes) else str(found)

    async def bump(self, owners: Iterable[uuid.UUID | None]) -> None:
        """New stamps for ``owners`` (``None``: everyone): the next read of each makes a fresh one."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for owner in set(owners):
                if owner is None:
                    pipe.set(EVERYONE, fresh())
                else:
                    pipe.delete(PREFIX + str(owner))
            await pipe.execute()
