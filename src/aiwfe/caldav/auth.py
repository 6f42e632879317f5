"""Who is calling over CalDAV: HTTP Basic with an app password, a personal access token holding the
``caldav`` scope. The account password never works here (so TOTP accounts sign in the same way).

A device sends its app password with every request, and looking it up costs two database queries (the
token, its user). A successful sign-in is therefore kept in Redis for a minute under the token's hash,
with a snapshot of its user, and one Redis round trip (a Lua script) answers the next requests: the
entry, whether it is still current, and the once-an-hour audit marker. An entry is current while the
generations it was stored under are: the token's and every token's (bumped when a commit revokes a token,
changes its scopes or expiry, or updates tokens in bulk: see ``aiwfe.auth.sessions``) and the user's
principal generations (bumped by any committed change to the user). The token generations are read
before the database is, so a revocation that commits meanwhile is never cached as valid. Unknown or
wrong passwords are never cached: they take the database path and its rate limit every time."""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass

from fastapi import Request
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from aiwfe.auth import audit
from aiwfe.auth.deps import client_info
from aiwfe.auth.models import AccessToken, User
from aiwfe.auth.service import PAT_PREFIX, AuthDeps, AuthService
from aiwfe.auth.sessions import (
    GENERATION,
    GLOBAL_GENERATION,
    GLOBAL_TOKEN_GENERATION,
    TOKEN_GENERATION,
    user_from_snapshot,
    user_snapshot,
)
from aiwfe.caldav.errors import DavUnauthorized
from aiwfe.core.crypto import token_hash
from aiwfe.core.logging import get_logger

SCOPE = "caldav"
# A successful sign-in is audited at most this often per token: devices sync every few minutes.
AUDIT_EVERY_SECONDS = 3600
AUDIT_KEY = "aiwfe:caldav:signed-in:"
CACHE_KEY = "aiwfe:caldav:app-password:"
# Also how stale the token's last_used_at may get: it is written on the database path only.
CACHE_SECONDS = 60
log = get_logger(__name__)

# KEYS[1] the entry. ARGV: token generation key, every token's, user generation prefix, every user's,
# audit key prefix, audit seconds, now (epoch seconds). Returns {token generations} when there is no
# current entry (the caller stores one under them), else {token generations, user snapshot, whether to
# audit (the marker was not set), token id}.
_CHECK_SCRIPT = """
local tokens = (redis.call('GET', ARGV[2]) or '0') .. '.' .. (redis.call('GET', ARGV[1]) or '0')
local e = redis.call('HMGET', KEYS[1], 'gen', 'user', 'token', 'expires', 'data')
if not e[1] then return {tokens} end
local users = (redis.call('GET', ARGV[4]) or '0') .. '.' .. (redis.call('GET', ARGV[3] .. e[2]) or '0')
local gen = tokens .. '|' .. users
if e[1] ~= gen or (e[4] ~= '0' and tonumber(e[4]) <= tonumber(ARGV[7])) then return {tokens} end
local fresh = redis.call('SET', ARGV[5] .. e[3], '1', 'EX', ARGV[6], 'NX')
return {tokens, e[5], fresh and 1 or 0, e[3]}
"""
# KEYS[1] the entry. ARGV: token generations read before the database was, user generation prefix,
# every user's, user id, token id, expiry (0: none), snapshot, seconds. The user's generations are read
# here, after the database was: a user changed meanwhile is caught by the next check at worst.
_STORE_SCRIPT = """
local users = (redis.call('GET', ARGV[3]) or '0') .. '.' .. (redis.call('GET', ARGV[2] .. ARGV[4]) or '0')
redis.call('HSET', KEYS[1], 'gen', ARGV[1] .. '|' .. users, 'user', ARGV[4], 'token', ARGV[5],
  'expires', ARGV[6], 'data', ARGV[7])
redis.call('EXPIRE', KEYS[1], ARGV[8])
return 0
"""


@dataclass(frozen=True)
class _Checked:
    tokens: str  # the token generations, to store a new entry under
    user: User | None = None
    audit: bool = False
    token_id: str = ""


@dataclass(frozen=True)
class _Scripts:
    check: AsyncScript
    store: AsyncScript


def _scripts(request: Request, deps: AuthDeps) -> _Scripts:
    """The Lua scripts, registered once per process (then run by their SHA)."""
    found: _Scripts | None = getattr(request.app.state, "caldav_auth_scripts", None)
    if found is None:
        found = _Scripts(deps.redis.register_script(_CHECK_SCRIPT), deps.redis.register_script(_STORE_SCRIPT))
        request.app.state.caldav_auth_scripts = found
    return found


def _credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        username, sep, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (username, password) if sep else None


async def _check(scripts: _Scripts, deps: AuthDeps, hashed: str) -> _Checked | None:
    """The cached sign-in of this token, if current; None when Redis cannot tell (the database decides)."""
    try:
        found = await scripts.check(
            keys=[CACHE_KEY + hashed],
            args=[
                TOKEN_GENERATION + hashed,
                GLOBAL_TOKEN_GENERATION,
                GENERATION,
                GLOBAL_GENERATION,
                AUDIT_KEY,
                AUDIT_EVERY_SECONDS,
                int(deps.clock()),
            ],
        )
    except RedisError as exc:
        log.warning("caldav_sign_in_cache_unavailable", error=str(exc))
        return None
    tokens = _text(found[0])
    if len(found) < 3:
        return _Checked(tokens)
    return _Checked(tokens, user_from_snapshot(_text(found[1]), ""), bool(found[2]), _text(found[3]))


async def _store(scripts: _Scripts, hashed: str, tokens: str, user: User, token: AccessToken) -> None:
    expires = int(token.expires_at.timestamp()) if token.expires_at is not None else 0
    try:
        await scripts.store(
            keys=[CACHE_KEY + hashed],
            args=[
                tokens,
                GENERATION,
                GLOBAL_GENERATION,
                str(user.id),
                str(token.id),
                expires,
                user_snapshot(user, ""),
                CACHE_SECONDS,
            ],
        )
    except RedisError as exc:
        log.warning("caldav_sign_in_cache_unavailable", error=str(exc))


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def authenticate(request: Request, db: AsyncSession) -> User:
    deps: AuthDeps = request.app.state.auth
    credentials = _credentials(request)
    if credentials is None:
        raise DavUnauthorized("sign in with your email and an app password (a token with the caldav scope)")
    username, password = credentials
    if not password.startswith(PAT_PREFIX):
        return await _refuse(request, db, deps, None)
    hashed = token_hash(password)
    scripts = _scripts(request, deps)
    checked = await _check(scripts, deps, hashed)
    if checked is not None and checked.user is not None:
        cached = checked.user
        if username.strip().lower() == cached.email.lower():
            if checked.audit:
                audit.record(
                    db,
                    "caldav_sign_in",
                    client=client_info(request),
                    user_id=cached.id,
                    token=checked.token_id,
                )
                await db.commit()
            return cached
    service = AuthService(db, deps, client_info(request))
    found = await service.authenticate_access_token(password)
    if found is None:
        return await _refuse(request, db, deps, None)
    user, token = found
    if SCOPE not in token.scopes or username.strip().lower() != user.email.lower():
        return await _refuse(request, db, deps, user.id)
    if checked is not None:
        await _store(scripts, hashed, checked.tokens, user, token)
    key = AUDIT_KEY + str(token.id)
    if await deps.redis.set(key, "1", ex=AUDIT_EVERY_SECONDS, nx=True):
        audit.record(db, "caldav_sign_in", client=client_info(request), user_id=user.id, token=str(token.id))
        await db.commit()
    return user


async def _refuse(request: Request, db: AsyncSession, deps: AuthDeps, user_id: uuid.UUID | None) -> User:
    client = client_info(request)
    await db.rollback()
    audit.record(
        db,
        "caldav_sign_in",
        client=client,
        user_id=user_id,
        outcome="failed",
        reason="scope" if user_id is not None else "credentials",
    )
    await db.commit()
    if client.ip:
        # Raises RateLimited (429 with Retry-After) once an address fails too often.
        await deps.limiter.hit(deps.settings.login_rate_per_ip, "caldav-ip", client.ip)
    raise DavUnauthorized("the email or app password is wrong, or the token lacks the caldav scope")
