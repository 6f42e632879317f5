"""Who is calling over CalDAV: HTTP Basic with an app password, a personal access token holding the
``caldav`` scope. The account password never works here (so TOTP accounts sign in the same way)."""

from __future__ import annotations

import base64
import binascii

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from aiwfe.auth import audit
from aiwfe.auth.deps import client_info
from aiwfe.auth.models import User
from aiwfe.auth.service import PAT_PREFIX, AuthDeps, AuthService
from aiwfe.caldav.errors import DavUnauthorized

SCOPE = "caldav"
# A successful sign-in is audited at most this often per token: devices sync every few minutes.
AUDIT_EVERY_SECONDS = 3600


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


async def authenticate(request: Request, db: AsyncSession) -> User:
    deps: AuthDeps = request.app.state.auth
    client = client_info(request)
    credentials = _credentials(request)
    if credentials is None:
        raise DavUnauthorized("sign in with your email and an app password (a token with the caldav scope)")
    username, password = credentials
    service = AuthService(db, deps, client)
    found = await service.authenticate_access_token(password) if password.startswith(PAT_PREFIX) else None
    if found is not None:
        user, token = found
        if SCOPE in token.scopes and username.strip().lower() == user.email.lower():
            key = f"aiwfe:caldav:signed-in:{token.id}"
            if await deps.redis.set(key, "1", ex=AUDIT_EVERY_SECONDS, nx=True):
                audit.record(db, "caldav_sign_in", client=client, user_id=user.id, token=str(token.id))
                await db.commit()
            return user
    await db.rollback()
    audit.record(
        db,
        "caldav_sign_in",
        client=client,
        user_id=found[0].id if found else None,
        outcome="failed",
        reason="scope" if found else "credentials",
    )
    await db.commit()
    if client.ip:
        # Raises RateLimited (429 with Retry-After) once an address fails too often.
        await deps.limiter.hit(deps.settings.login_rate_per_ip, "caldav-ip", client.ip)
    raise DavUnauthorized("the email or app password is wrong, or the token lacks the caldav scope")
