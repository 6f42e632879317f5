"""Dependencies that guard sensitive account changes: a verified email address, and a session that proved
its password (or a TOTP code) within ``AIWFE_REAUTH_MINUTES``.

Until the address is verified an account cannot set up anything that outlives a password reset by its real
owner (access tokens, identity links, webhooks, feeds); re-authentication keeps a stolen or forgotten session
from minting lasting access.
"""

from __future__ import annotations

from fastapi import Depends

from aiwfe.auth.deps import Principal, auth_service, current_principal, require_scope
from aiwfe.auth.service import AuthService


async def verified_writer(principal: Principal = Depends(require_scope("write"))) -> Principal:
    """A caller with the write scope whose email address is verified."""
    AuthService.require_verified(principal.user)
    return principal


async def recently_authenticated(
    principal: Principal = Depends(current_principal), service: AuthService = Depends(auth_service)
) -> Principal:
    """A signed-in session (not an access token) that re-authenticated recently."""
    service.require_recent_auth(principal.session)
    return principal


async def verified_recently_authenticated(
    principal: Principal = Depends(verified_writer), service: AuthService = Depends(auth_service)
) -> Principal:
    """Both: checked in this order, so an unverified account hears "verify your email first"."""
    service.require_recent_auth(principal.session)
    return principal
