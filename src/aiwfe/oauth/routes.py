"""HTTP routes of the oauth domain: the provider list, the redirect to a provider and its callback, and the
signed-in user's linked accounts. Thin: parse, call one service method, shape the answer.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import RedirectResponse

from aiwfe.auth.deps import Principal, current_principal, require_scope, set_session_cookies
from aiwfe.auth.errors import Forbidden
from aiwfe.auth.guards import verified_recently_authenticated
from aiwfe.auth.service import MfaChallenge, SignedIn
from aiwfe.core.settings import Environment, Settings
from aiwfe.oauth.deps import oauth_service
from aiwfe.oauth.schemas import LinkStartOut, OAuthAccountOut, ProviderOut, UnlinkedOut
from aiwfe.oauth.service import OAuthDeps, OAuthService

auth = APIRouter(prefix="/auth", tags=["oauth"])
me = APIRouter(prefix="/me/oauth", tags=["oauth"])

BINDING_COOKIE = "aiwfe_oauth"
CALLBACK = "oauth_callback"
# Where to land after the provider: a path on this site only (no scheme, no //host), so no open redirect.
NextPath = Query("/", alias="next", max_length=500, pattern=r"^/([^/\\\s]\S*)?$")


def _public(settings: Settings, path: str) -> str:
    return settings.public_url.rstrip("/") + path


def _callback_path(request: Request, provider: str) -> str:
    return str(request.app.url_path_for(CALLBACK, provider=provider))


def _bind(request: Request, response: Response, settings: Settings, provider: str, binding: str) -> None:
    """The cookie that ties the flow to this browser; sent only to the callback (Lax: top-level GET)."""
    response.set_cookie(
        BINDING_COOKIE,
        binding,
        max_age=settings.oauth_flow_minutes * 60,
        httponly=True,
        secure=request.url.scheme == "https"
        or (settings.public_url.startswith("https://") and settings.env is Environment.PRODUCTION),
        samesite="lax",
        path=_callback_path(request, provider),
    )


@auth.get("/providers", response_model=list[ProviderOut])
async def providers(request: Request) -> list[ProviderOut]:
    deps: OAuthDeps = request.app.state.oauth
    return [
        ProviderOut(
            name=config.name,
            display_name=config.display_name,
            kind=config.kind,
            login_url=str(request.app.url_path_for("oauth_login", provider=config.name)),
        )
        for config in deps.providers.enabled()
    ]


@auth.get("/oauth/{provider}/login", name="oauth_login", response_class=RedirectResponse, status_code=302)
async def login(
    provider: str,
    request: Request,
    next_path: str = NextPath,
    service: OAuthService = Depends(oauth_service),
) -> RedirectResponse:
    """Send the browser to the provider to sign in (or sign up)."""
    redirect_uri = _public(service.settings, _callback_path(request, provider))
    started = await service.start(provider, "login", redirect_uri=redirect_uri, next_path=next_path)
    response = RedirectResponse(started.authorization_url, status_code=302)
    _bind(request, response, service.settings, provider, started.binding)
    return response


@auth.get("/oauth/{provider}/callback", name=CALLBACK, response_class=RedirectResponse, status_code=303)
async def callback(
    provider: str,
    request: Request,
    state: str | None = Query(None, max_length=512),
    code: str | None = Query(None, max_length=4096),
    error: str | None = Query(None, max_length=200),
    iss: str | None = Query(None, max_length=2048),
    service: OAuthService = Depends(oauth_service),
) -> RedirectResponse:
    """Where the provider sends the browser back; signs in (or links) and lands on the page asked for."""
    finished = await service.finish(
        provider, state=state, code=code, error=error, iss=iss, binding=request.cookies.get(BINDING_COOKIE)
    )
    target = _public(service.settings, finished.next_path)
    if isinstance(finished.signed_in, MfaChallenge):
        # The second factor is asked by the web UI (POST /auth/login/mfa); a fragment never reaches a server.
        target = _public(service.settings, f"/login#mfa_token={finished.signed_in.mfa_token}")
    response = RedirectResponse(target, status_code=303)
    if isinstance(finished.signed_in, SignedIn):
        set_session_cookies(request, response, service.auth, finished.signed_in.token)
    response.delete_cookie(BINDING_COOKIE, path=_callback_path(request, provider))
    return response


@me.get("/accounts", response_model=list[OAuthAccountOut])
async def list_accounts(
    principal: Principal = Depends(require_scope("read")), service: OAuthService = Depends(oauth_service)
) -> list[OAuthAccountOut]:
    return [OAuthAccountOut.model_validate(a) for a in await service.list_accounts(principal.user)]


@me.post("/{provider}/link", response_model=LinkStartOut)
async def link(
    provider: str,
    request: Request,
    response: Response,
    next_path: str = NextPath,
    principal: Principal = Depends(verified_recently_authenticated),
    service: OAuthService = Depends(oauth_service),
) -> LinkStartOut:
    """Start linking a provider account (with its data-access scopes); the browser goes to the URL."""
    if principal.access_token is not None:
        raise Forbidden("linking a provider needs a signed-in session")
    redirect_uri = _public(service.settings, _callback_path(request, provider))
    started = await service.start(
        provider, "link", redirect_uri=redirect_uri, next_path=next_path, user=principal.user
    )
    _bind(request, response, service.settings, provider, started.binding)
    return LinkStartOut(authorization_url=started.authorization_url)


@me.delete("/accounts/{account_id}", response_model=UnlinkedOut)
async def unlink(
    account_id: uuid.UUID,
    principal: Principal = Depends(current_principal),
    service: OAuthService = Depends(oauth_service),
) -> UnlinkedOut:
    if principal.access_token is not None:
        raise Forbidden("unlinking a provider needs a signed-in session")
    return UnlinkedOut(revoked_at_provider=await service.unlink(principal.user, account_id))


routers = [auth, me]
