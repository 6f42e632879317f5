"""FastAPI dependencies: who is calling (session cookie, bearer session or access token), CSRF, roles."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from fastapi import Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiwfe.auth.audit import ClientInfo
from aiwfe.auth.errors import AuthenticationRequired, CsrfFailed, Forbidden
from aiwfe.auth.models import AccessToken, Role, User
from aiwfe.auth.service import PAT_PREFIX, AuthDeps, AuthService
from aiwfe.auth.sessions import SessionRecord
from aiwfe.core.crypto import new_token, same
from aiwfe.core.db import get_session
from aiwfe.core.settings import Settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"
# On https the cookies are ``__Host-`` cookies: Secure, Path=/, no Domain, so no sibling subdomain can set
# or shadow them. Plain http (the local http site, tests) keeps the bare names, which browsers require there.
HOST_PREFIX = "__Host-"


def secure_cookies(request: Request, settings: Settings) -> bool:
    return request.url.scheme == "https" or (
        settings.public_url.startswith("https://") and settings.env == "production"
    )


def session_cookie_name(request: Request, settings: Settings) -> str:
    prefix = HOST_PREFIX if secure_cookies(request, settings) else ""
    return prefix + settings.session_cookie_name


def csrf_cookie_name(request: Request, settings: Settings) -> str:
    prefix = HOST_PREFIX if secure_cookies(request, settings) else ""
    return prefix + settings.csrf_cookie_name


def client_info(request: Request) -> ClientInfo:
    return ClientInfo(
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent", "")[:512],
    )


async def auth_service(request: Request, db: AsyncSession = Depends(get_session)) -> AuthService:
    # async, though it awaits nothing: FastAPI runs a plain function dependency in a worker thread.
    deps: AuthDeps = request.app.state.auth
    return AuthService(db, deps, client_info(request))


@dataclass
class Principal:
    user: User
    session: SessionRecord | None = None
    session_token: str | None = None
    access_token: AccessToken | None = None
    via_cookie: bool = False
    scopes: set[str] = field(default_factory=set)
    # Read with a cached session's snapshot (core/stamps.py); None otherwise.
    calendar_stamp: str | None = None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_csrf(request: Request) -> None:
    """Double-submit token plus an Origin/Referer check, for cookie-authenticated unsafe requests."""
    deps: AuthDeps = request.app.state.auth
    cookie = request.cookies.get(csrf_cookie_name(request, deps.settings), "")
    header = request.headers.get(CSRF_HEADER, "")
    if not cookie or not header or not same(cookie, header):
        raise CsrfFailed("missing or wrong X-CSRF-Token header")
    source = request.headers.get("origin") or request.headers.get("referer")
    if source and source != "null":
        allowed = {_origin(deps.settings.public_url), _origin(str(request.base_url))}
        if _origin(source) not in allowed:
            raise CsrfFailed(f"requests from {_origin(source)} are not accepted")
    elif source == "null":
        raise CsrfFailed("requests from an opaque origin are not accepted")


async def optional_principal(
    request: Request, service: AuthService = Depends(auth_service)
) -> Principal | None:
    settings = service.settings
    authorization = request.headers.get("authorization", "")
    if authorization:
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() != "bearer" or not credential:
            raise AuthenticationRequired("use `Authorization: Bearer <token>`")
        credential = credential.strip()
        if credential.startswith(PAT_PREFIX):
            found = await service.authenticate_access_token(credential)
            if found is None:
                raise AuthenticationRequired("the access token is invalid, expired or revoked")
            user, token = found
            return Principal(user=user, access_token=token, scopes=set(token.scopes))
        signed = await _signed_in(request, service, credential)
        if signed is None:
            raise AuthenticationRequired("the session is invalid or expired; sign in again")
        return Principal(
            user=signed[0], session=signed[1], session_token=credential, scopes=_all_scopes(signed[0])
        )
    cookie = request.cookies.get(session_cookie_name(request, settings))
    if not cookie:
        return None
    signed = await _signed_in(request, service, cookie)
    if signed is None:
        return None
    if request.method not in SAFE_METHODS:
        check_csrf(request)
    return Principal(
        user=signed[0],
        session=signed[1],
        session_token=cookie,
        via_cookie=True,
        scopes=_all_scopes(signed[0]),
    )


async def _signed_in(request: Request, service: AuthService, token: str) -> tuple[User, SessionRecord] | None:
    """The session's user: for a read, its snapshot when current (no database query); for a write, the
    user loaded into the request's database session, so what the handler changes is saved."""
    store = service.deps.sessions
    cached = await store.get_cached(token)
    if cached is None:
        return None
    record = cached.record
    if cached.user is not None and request.method in SAFE_METHODS:
        return cached.user, record
    user = await service.user_by_id(record.user_id)
    if user is None or not user.is_active:
        await store.revoke_all(record.user_id)
        return None
    if cached.user is None:
        await store.remember_user(record, user, cached.generation)
    return user, record


def _all_scopes(user: User) -> set[str]:
    return {"read", "write", "admin"} if user.role is Role.ADMIN else {"read", "write"}


async def current_principal(principal: Principal | None = Depends(optional_principal)) -> Principal:
    if principal is None:
        raise AuthenticationRequired("sign in first")
    return principal


async def _cached_principal(request: Request, deps: AuthDeps) -> Principal | None:
    """A read's principal from the session's cached snapshot alone (one Redis round trip, no database
    session); None when that cannot decide (an access token, no snapshot, a bad or unknown credential)."""
    authorization = request.headers.get("authorization", "")
    via_cookie = not authorization
    if via_cookie:
        token = request.cookies.get(deps.settings.session_cookie_name, "")
    else:
        scheme, _, token = authorization.partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
    if not token or token.startswith(PAT_PREFIX):
        return None
    cached = await deps.sessions.get_cached(token)
    if cached is None or cached.user is None:
        return None
    return Principal(
        user=cached.user,
        session=cached.record,
        session_token=token,
        via_cookie=via_cookie,
        scopes=_all_scopes(cached.user),
        calendar_stamp=cached.calendar_stamp or None,
    )


async def read_principal(request: Request) -> Principal:
    """The caller of a safe (GET/HEAD) route, resolved without FastAPI's dependency tree: from the cached
    snapshot when there is one, else the usual way in a database session of its own (nothing a read route
    changes on the user is saved, which is why only safe routes may use it; tests/auth check that)."""
    deps: AuthDeps = request.app.state.auth
    if request.method in SAFE_METHODS:
        principal = await _cached_principal(request, deps)
        if principal is not None:
            return principal
    factory: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with factory() as db:
        return await current_principal(
            await optional_principal(request, AuthService(db, deps, client_info(request)))
        )


async def snapshot_writer(request: Request) -> Principal:
    """The caller of a write route that changes nothing on the user (it reads only its id, role and
    flags): from the session's cached snapshot, as a read does, so the write does not first load the user
    from the database; a cookie's CSRF token is checked as for any unsafe request. The snapshot is as
    current as a load (a change to the user makes it stale at once: ``tests/auth/test_principal_cache.py``);
    without one, the caller is resolved the usual way in a database session of its own."""
    deps: AuthDeps = request.app.state.auth
    principal = await _cached_principal(request, deps)
    if principal is None:
        factory: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
        async with factory() as db:
            principal = await current_principal(
                await optional_principal(request, AuthService(db, deps, client_info(request)))
            )
    elif principal.via_cookie and request.method not in SAFE_METHODS:
        check_csrf(request)
    if "write" not in principal.scopes:
        raise Forbidden("this needs the 'write' scope")
    return principal


def require_scope(scope: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    if scope == "read":
        # Read routes are the hot path: one dependency with no sub-dependencies (no database session).
        async def read(request: Request) -> Principal:
            principal = await read_principal(request)
            if scope not in principal.scopes:
                raise Forbidden(f"this needs the {scope!r} scope")
            return principal

        return read

    async def dependency(principal: Principal = Depends(current_principal)) -> Principal:
        if scope not in principal.scopes:
            raise Forbidden(f"this needs the {scope!r} scope")
        return principal

    return dependency


async def require_admin(principal: Principal = Depends(require_scope("admin"))) -> Principal:
    if principal.user.role is not Role.ADMIN:
        raise Forbidden("administrators only")
    return principal


def set_session_cookies(request: Request, response: Response, service: AuthService, token: str) -> str:
    """Set the HttpOnly session cookie and a readable CSRF cookie; returns the CSRF token."""
    settings = service.settings
    secure = secure_cookies(request, settings)
    max_age = settings.session_absolute_hours * 3600
    response.set_cookie(
        session_cookie_name(request, settings),
        token,
        max_age=max_age,
        httponly=True,
        secure=secure,
        samesite="lax",
        path="/",
    )
    csrf = new_token(24)
    response.set_cookie(
        csrf_cookie_name(request, settings),
        csrf,
        max_age=max_age,
        httponly=False,
        secure=secure,
        samesite="lax",
        path="/",
    )
    return csrf
