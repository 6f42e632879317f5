"""FastAPI dependency of the oauth domain: the service with this process's collaborators (made in the app's
lifespan) and the request's auth service."""

from __future__ import annotations

from fastapi import Depends, Request

from aiwfe.auth.deps import auth_service
from aiwfe.auth.service import AuthService
from aiwfe.oauth.service import OAuthDeps, OAuthService


async def oauth_service(request: Request, auth: AuthService = Depends(auth_service)) -> OAuthService:
    deps: OAuthDeps = request.app.state.oauth
    return OAuthService(auth.db, deps, auth)
