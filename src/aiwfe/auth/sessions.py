"""Opaque server-side sessions in Redis, shared by every API replica.

The client holds a random token; Redis holds ``sha256(token)`` → the record, plus a per-user index.
Nothing is cached in a process, so a revoked session fails at once on every replica.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis

from aiwfe.core.crypto import new_token, token_hash
from aiwfe.core.settings import Settings

KEY = "aiwfe:session:"
INDEX = "aiwfe:user-sessions:"
TOUCH_EVERY_SECONDS = 60
MARK_REAUTH = (
    "if redis.call('exists', KEYS[1]) == 1 then redis.call('hset', KEYS[1], 'reauth_at', ARGV[1]) end"
)


@dataclass(frozen=True)
class SessionRecord:
    id: str  # sha256 of the token: safe to show its owner, useless to an attacker
    user_id: uuid.UUID
    created_at: float
    last_seen_at: float
    ip: str
    user_agent: str
    mfa: bool
    # When the holder last proved their password or a TOTP code (0: never; e.g. signed in through OAuth).
    reauth_at: float = 0.0

    @property
    def short_id(self) -> str:
        """What logs may carry: never a whole session id."""
        return self.id[:8]


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


class SessionStore:
    def __init__(self, redis: Redis, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.idle = settings.session_idle_minutes * 60
        self.absolute = settings.session_absolute_hours * 3600
        self.clock = clock

    async def create(
        self, user_id: uuid.UUID, ip: str, user_agent: str, *, mfa: bool, reauth: bool = False
    ) -> tuple[str, SessionRecord]:
        token = new_token(32)
        now = self.clock()
        reauth_at = now if reauth else 0.0
        record = SessionRecord(token_hash(token), user_id, now, now, ip, user_agent[:256], mfa, reauth_at)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                KEY + record.id,
                mapping={
                    "user_id": str(user_id),
                    "created_at": now,
                    "last_seen_at": now,
                    "ip": ip,
                    "user_agent": record.user_agent,
                    "mfa": int(mfa),
                    "reauth_at": reauth_at,
                },
            )
            pipe.expire(KEY + record.id, self.idle)
            pipe.sadd(INDEX + str(user_id), record.id)
            pipe.expire(INDEX + str(user_id), self.absolute)
            await pipe.execute()
        return token, record

    async def _load(self, session_id: str) -> SessionRecord | None:
        stored = await self.redis.hgetall(KEY + session_id)
        if not stored:
            return None
        raw = {_text(k): _text(v) for k, v in stored.items()}
        return SessionRecord(
            id=session_id,
            user_id=uuid.UUID(raw["user_id"]),
            created_at=float(raw["created_at"]),
            last_seen_at=float(raw["last_seen_at"]),
            ip=raw.get("ip", ""),
            user_agent=raw.get("user_agent", ""),
            mfa=raw.get("mfa") == "1",
            reauth_at=float(raw.get("reauth_at", 0)),
        )

    def _expired(self, record: SessionRecord, now: float) -> bool:
        return now - record.created_at > self.absolute or now - record.last_seen_at > self.idle

    async def get(self, token: str) -> SessionRecord | None:
        """The live session for ``token``, refreshing its idle timer; None when unknown or expired."""
        record = await self._load(token_hash(token))
        if record is None:
            return None
        now = self.clock()
        if self._expired(record, now):
            await self._delete(record.user_id, record.id)
            return None
        if now - record.last_seen_at >= TOUCH_EVERY_SECONDS:
            remaining = int(self.absolute - (now - record.created_at))
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(KEY + record.id, "last_seen_at", now)
                pipe.expire(KEY + record.id, max(1, min(self.idle, remaining)))
                await pipe.execute()
        return record

    async def mark_reauth(self, session_id: str) -> float:
        """Record that the session's holder just proved their password or TOTP code; returns the time."""
        now = self.clock()
        # Atomic: a session revoked meanwhile must not come back as a half-written hash.
        await self.redis.eval(MARK_REAUTH, 1, KEY + session_id, str(now))
        return now

    async def alive(self, session_id: str) -> bool:
        """Whether the session still exists and has not expired (no refresh of its idle timer)."""
        record = await self._load(session_id)
        return record is not None and not self._expired(record, self.clock())

    async def list(self, user_id: uuid.UUID) -> list[SessionRecord]:
        now = self.clock()
        records = []
        for member in await self.redis.smembers(INDEX + str(user_id)):
            session_id = _text(member)
            record = await self._load(session_id)
            if record is None or self._expired(record, now):
                await self._delete(user_id, session_id)
                continue
            records.append(record)
        return sorted(records, key=lambda r: r.created_at)

    async def _delete(self, user_id: uuid.UUID, session_id: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(KEY + session_id)
            pipe.srem(INDEX + str(user_id), session_id)
            await pipe.execute()

    async def revoke(self, user_id: uuid.UUID, session_id: str) -> bool:
        """Revoke one of ``user_id``'s sessions; False when it is not theirs (or gone)."""
        if not await self.redis.sismember(INDEX + str(user_id), session_id):
            return False
        await self._delete(user_id, session_id)
        return True

    async def revoke_all(self, user_id: uuid.UUID, *, keep: str | None = None) -> int:
        count = 0
        for member in await self.redis.smembers(INDEX + str(user_id)):
            session_id = _text(member)
            if session_id != keep:
                await self._delete(user_id, session_id)
                count += 1
        return count
