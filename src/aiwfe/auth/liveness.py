"""Whether a caller authenticated at the start of a long request (a progress stream) is still signed in."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiwfe.auth.deps import Principal
from aiwfe.auth.models import AccessToken, User
from aiwfe.auth.sessions import SessionStore
from aiwfe.core.clock import Clock


async def still_signed_in(
    principal: Principal, sessions: SessionStore, db_sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> bool:
    """A session must still exist in Redis (sign-out, revocation, deactivation and password resets delete
    it); an access token must be unrevoked, unexpired and its user active."""
    if principal.session is not None:
        return await sessions.alive(principal.session.id)
    token = principal.access_token
    if token is None:
        return False
    async with db_sessions() as db:
        row = await db.get(AccessToken, token.id)
        user = await db.get(User, token.user_id)
    if row is None or user is None or not user.is_active or row.revoked_at is not None:
        return False
    return row.expires_at is None or row.expires_at.timestamp() > clock()
