"""Opaque server-side sessions in Redis, shared by every API replica, with their user cached beside them.

The client holds a random token; Redis holds ``sha256(token)`` → the record, plus a per-user index.
Nothing is cached in a process, so a revoked session fails at once on every replica.

The session's hash also keeps a snapshot of its user (the principal), so a read (GET/HEAD) needs one
Redis round trip and no database query to learn who is calling. A snapshot is tagged with the user's
generation (``aiwfe:principal-gen:<user>``) and a global one, read in the same round trip (one Lua
script); a committed change to a ``users`` row bumps the user's generation (an ORM change) or the global
one (a bulk UPDATE on users), so the next request of every replica loads the user again. Writes (POST,
PATCH, ...) always load the user from the database, as before, so what they change is attached.

Caches of access tokens (CalDAV's app passwords) are invalidated the same way: a committed change to an
``access_tokens`` row that matters (revoked, scopes, expiry) bumps that token's generation
(``aiwfe:access-token-gen:<token hash>``), a bulk UPDATE or DELETE on the table bumps a global one.

The same round trip returns the user's calendar stamp (``aiwfe.core.stamps``), which names their cached
calendar pages.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.util import await_only

from aiwfe.auth.models import AccessToken, Role, User
from aiwfe.core import stamps
from aiwfe.core.crypto import new_token, token_hash
from aiwfe.core.logging import get_logger
from aiwfe.core.settings import Settings

KEY = "aiwfe:session:"
INDEX = "aiwfe:user-sessions:"
GENERATION = "aiwfe:principal-gen:"
GLOBAL_GENERATION = "aiwfe:principal-gen"
PRINCIPAL_FIELD = "principal"
TOKEN_GENERATION = "aiwfe:access-token-gen:"  # noqa: S105 (a Redis key prefix)
GLOBAL_TOKEN_GENERATION = "aiwfe:access-token-gen"  # noqa: S105 (a Redis key)
# How long a generation outlives its bump: longer than any cache entry tagged with the old one.
TOKEN_GENERATION_SECONDS = 3600
TOUCH_EVERY_SECONDS = 60
MARK_REAUTH = (
    "if redis.call('exists', KEYS[1]) == 1 then redis.call('hset', KEYS[1], 'reauth_at', ARGV[1]) end"
)
# Where an API session finds the store to tell about user changes (``async_sessionmaker(info=...)``).
STORE_INFO_KEY = "aiwfe_session_store"
_CHANGED_INFO_KEY = "aiwfe_changed_users"
_CHANGED_TOKENS_INFO_KEY = "aiwfe_changed_tokens"
# What a cached token's holder may do depends on these; last_used_at (touched every minute) does not.
_TOKEN_FIELDS = ("revoked_at", "scopes", "expires_at", "user_id", "token_hash")
log = get_logger(__name__)

# The session's hash, both generations and the user's calendar stamp (core/stamps.py) in one round
# trip. The per-user keys are not in KEYS (they are named by the session's content), which a single Redis
# server allows.
_LOAD_SCRIPT = (
    stamps.LUA_FUNCTION
    + """
local s = redis.call('HGETALL', KEYS[1])
if #s == 0 then return false end
local uid = nil
for i = 1, #s, 2 do
  if s[i] == 'user_id' then uid = s[i + 1] break end
end
local gen = false
local stamp = ''
if uid then
  gen = redis.call('GET', ARGV[1] .. uid)
  stamp = calendar_stamp(uid, ARGV[3], ARGV[4], ARGV[5], ARGV[6])
end
return {s, gen or '0', redis.call('GET', ARGV[2]) or '0', stamp}
"""
)
# Store a snapshot only into a session that still exists: a revoked one must not come back as a stub.
_SNAPSHOT_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 0
"""
# Snapshot fields: what a read needs, never a secret (no password hash, no TOTP secret).
_SNAPSHOT_TIMES = ("email_verified_at", "password_changed_at", "totp_enabled_at", "created_at", "updated_at")


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


def user_snapshot(user: User, generation: str) -> str:
    data: dict[str, Any] = {
        "gen": generation,
        "id": str(user.id),
        "email": user.email,
        "display_name": user.display_name,
        "time_zone": user.time_zone,
        "role": user.role.value,
        "is_active": user.is_active,
    }
    for name in _SNAPSHOT_TIMES:
        value: datetime | None = getattr(user, name)
        data[name] = value.isoformat() if value is not None else None
    return json.dumps(data, separators=(",", ":"))


def user_from_snapshot(raw: str, generation: str) -> User | None:
    """A transient User (in no database session) from a snapshot of this generation, else None."""
    try:
        data = json.loads(raw)
        if data.get("gen") != generation:
            return None
        times = {n: datetime.fromisoformat(data[n]) if data[n] else None for n in _SNAPSHOT_TIMES}
        return User(
            id=uuid.UUID(data["id"]),
            email=data["email"],
            display_name=data["display_name"],
            time_zone=data["time_zone"],
            role=Role(data["role"]),
            is_active=bool(data["is_active"]),
            **times,
        )
    except (ValueError, KeyError, TypeError):
        return None  # an older format or a damaged entry: load the user again


@dataclass(frozen=True)
class CachedSession:
    """A live session, its user's snapshot when still current (else None), and the generation to tag a
    fresh snapshot with."""

    record: SessionRecord
    user: User | None
    generation: str
    # The user's calendar stamp: what a cached calendar page is named by (core/stamps.py).
    calendar_stamp: str = ""


class SessionStore:
    def __init__(self, redis: Redis, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.idle = settings.session_idle_minutes * 60
        self.absolute = settings.session_absolute_hours * 3600
        self.clock = clock
        self.stamp_seconds = stamps.stamp_seconds(settings)
        self._load_script = redis.register_script(_LOAD_SCRIPT)
        self._snapshot_script = redis.register_script(_SNAPSHOT_SCRIPT)

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
        return self._record(session_id, {_text(k): _text(v) for k, v in stored.items()})

    @staticmethod
    def _record(session_id: str, raw: dict[str, str]) -> SessionRecord | None:
        if "user_id" not in raw:
            return None
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
        return await self._live(record)

    async def get_cached(self, token: str) -> CachedSession | None:
        """Like ``get``, plus the user's snapshot when it is of the current generation: one round trip."""
        session_id = token_hash(token)
        found = await self._load_script(
            keys=[KEY + session_id],
            args=[
                GENERATION,
                GLOBAL_GENERATION,
                stamps.PREFIX,
                stamps.EVERYONE,
                stamps.fresh(),
                self.stamp_seconds,
            ],
        )
        if not found:
            return None
        flat, user_gen, global_gen, calendar_stamp = found
        raw = {_text(flat[i]): _text(flat[i + 1]) for i in range(0, len(flat), 2)}
        record = self._record(session_id, raw)
        if record is None or await self._live(record) is None:
            return None
        generation = f"{_text(global_gen)}.{_text(user_gen)}"
        snapshot = raw.get(PRINCIPAL_FIELD)
        user = user_from_snapshot(snapshot, generation) if snapshot else None
        if user is not None and user.id != record.user_id:
            user = None  # never another user's snapshot, whatever is stored
        return CachedSession(record, user, generation, _text(calendar_stamp))

    async def remember_user(self, record: SessionRecord, user: User, generation: str) -> None:
        """Keep ``user`` (loaded after ``generation`` was read) beside the session for the next reads."""
        try:
            await self._snapshot_script(
                keys=[KEY + record.id], args=[PRINCIPAL_FIELD, user_snapshot(user, generation)]
            )
        except RedisError as exc:
            log.warning("principal_cache_unavailable", error=str(exc))

    async def users_changed(self, user_ids: Iterable[uuid.UUID | None]) -> None:
        """Bump the generation of each user (``None``: every user), so their snapshots are not used again."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for user_id in set(user_ids):
                key = GLOBAL_GENERATION if user_id is None else GENERATION + str(user_id)
                pipe.incr(key)
                # Outlives every snapshot tagged before the bump: those live no longer than their session.
                pipe.expire(key, self.absolute + 60)
            await pipe.execute()

    async def tokens_changed(self, hashes: Iterable[str | None]) -> None:
        """Bump the generation of each access token (by hash; ``None``: every token)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for found in set(hashes):
                key = GLOBAL_TOKEN_GENERATION if found is None else TOKEN_GENERATION + found
                pipe.incr(key)
                pipe.expire(key, TOKEN_GENERATION_SECONDS)
            await pipe.execute()

    async def _live(self, record: SessionRecord) -> SessionRecord | None:
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


# ---- telling the principal cache about committed user changes ---------------------------------------


@event.listens_for(Session, "after_flush")
def _note_changed_users(session: Session, _flush_context: object) -> None:
    if STORE_INFO_KEY not in session.info:
        return
    changed = session.info.setdefault(_CHANGED_INFO_KEY, set())
    tokens = session.info.setdefault(_CHANGED_TOKENS_INFO_KEY, set())
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, User) and (obj in session.deleted or session.is_modified(obj)):
            changed.add(obj.id)
        elif isinstance(obj, AccessToken) and (
            obj in session.deleted
            or any(inspect(obj).attrs[name].history.has_changes() for name in _TOKEN_FIELDS)
        ):
            tokens.update(found for found in inspect(obj).attrs.token_hash.history.sum() if found)


@event.listens_for(Session, "do_orm_execute")
def _note_bulk_user_changes(state: ORMExecuteState) -> None:
    if STORE_INFO_KEY not in state.session.info or not (state.is_update or state.is_delete):
        return
    mapper = state.bind_mapper
    # Which rows a bulk statement touches is unknown here: every snapshot goes.
    if mapper is not None and mapper.class_ is User:
        state.session.info.setdefault(_CHANGED_INFO_KEY, set()).add(None)
    elif mapper is not None and mapper.class_ is AccessToken:
        state.session.info.setdefault(_CHANGED_TOKENS_INFO_KEY, set()).add(None)


@event.listens_for(Session, "after_commit")
def _bump_changed_users(session: Session) -> None:
    changed = session.info.pop(_CHANGED_INFO_KEY, None)
    tokens = session.info.pop(_CHANGED_TOKENS_INFO_KEY, None)
    store = session.info.get(STORE_INFO_KEY)
    if store is None:
        return
    try:
        # The commit of an AsyncSession runs in SQLAlchemy's greenlet: await_only reaches the loop.
        if changed:
            await_only(store.users_changed(changed))
        if tokens:
            await_only(store.tokens_changed(tokens))
    except RedisError as exc:
        log.error(
            "principal_cache_invalidation_failed",
            error=str(exc),
            users=len(changed or ()),
            tokens=len(tokens or ()),
        )


@event.listens_for(Session, "after_rollback")
def _forget_changed_users(session: Session) -> None:
    session.info.pop(_CHANGED_INFO_KEY, None)
    session.info.pop(_CHANGED_TOKENS_INFO_KEY, None)
