"""HTTP routes of the auth domain: thin — parse, call one service method, shape the answer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Query, Request, Response, status

from aiwfe.auth import audit
from aiwfe.auth.deps import (
    Principal,
    auth_service,
    csrf_cookie_name,
    current_principal,
    require_admin,
    require_scope,
    secure_cookies,
    session_cookie_name,
    set_session_cookies,
)
from aiwfe.auth.errors import Forbidden
from aiwfe.auth.guards import recently_authenticated, verified_recently_authenticated
from aiwfe.auth.models import User
from aiwfe.auth.schemas import (
    AccessTokenCreatedOut,
    AccessTokenIn,
    AccessTokenOut,
    AdminUserPatch,
    AuditEventOut,
    EmailIn,
    InviteIn,
    InviteOut,
    LoginIn,
    LoginOut,
    MfaLoginIn,
    PasswordChangeIn,
    PasswordResetIn,
    ProfileIn,
    ReauthIn,
    ReauthOut,
    RecoveryCodesOut,
    RegisterIn,
    SessionOut,
    TokenIn,
    TotpCodeIn,
    TotpDisableIn,
    TotpSetupOut,
    UserOut,
    UserPageOut,
)
from aiwfe.auth.service import AuthService, MfaChallenge, SignedIn

auth = APIRouter(prefix="/auth", tags=["auth"])
me = APIRouter(prefix="/me", tags=["me"])
admin = APIRouter(prefix="/admin", tags=["admin"])


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        time_zone=user.time_zone,
        role=user.role,
        is_active=user.is_active,
        email_verified=user.email_verified_at is not None,
        totp_enabled=user.totp_enabled_at is not None,
        created_at=user.created_at,
    )


def _signed_in(
    request: Request, response: Response, service: AuthService, result: SignedIn, mode: str
) -> LoginOut:
    if mode == "token":
        return LoginOut(user=user_out(result.user), session_token=result.token)
    csrf = set_session_cookies(request, response, service, result.token)
    return LoginOut(user=user_out(result.user), csrf_token=csrf)


@auth.post("/register", status_code=status.HTTP_201_CREATED, response_model=UserOut)
async def register(body: RegisterIn, service: AuthService = Depends(auth_service)) -> UserOut:
    return user_out(
        await service.register(
            body.email, body.password, body.display_name, body.time_zone, body.invite_token
        )
    )


@auth.post("/login", response_model=LoginOut, response_model_exclude_none=True)
async def login(
    body: LoginIn, request: Request, response: Response, service: AuthService = Depends(auth_service)
) -> LoginOut:
    existing = request.cookies.get(session_cookie_name(request, service.settings))
    result = await service.login(body.email, body.password, replacing=existing)
    if isinstance(result, MfaChallenge):
        return LoginOut(mfa_required=True, mfa_token=result.mfa_token)
    return _signed_in(request, response, service, result, body.mode)


@auth.post("/login/mfa", response_model=LoginOut, response_model_exclude_none=True)
async def login_mfa(
    body: MfaLoginIn, request: Request, response: Response, service: AuthService = Depends(auth_service)
) -> LoginOut:
    result = await service.login_mfa(body.mfa_token, body.code, body.recovery_code)
    return _signed_in(request, response, service, result, body.mode)


@auth.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(
    request: Request,
    response: Response,
    principal: Principal = Depends(current_principal),
    service: AuthService = Depends(auth_service),
) -> None:
    if principal.session is None:
        raise Forbidden("access tokens are revoked, not logged out: DELETE /api/v1/me/tokens/{id}")
    await service.logout(principal.user, principal.session)
    # A __Host- cookie is only replaced (here: expired) by one that is Secure too.
    secure = secure_cookies(request, service.settings)
    response.delete_cookie(session_cookie_name(request, service.settings), path="/", secure=secure)
    response.delete_cookie(csrf_cookie_name(request, service.settings), path="/", secure=secure)


@auth.post("/verify-email", response_model=UserOut)
async def verify_email(body: TokenIn, service: AuthService = Depends(auth_service)) -> UserOut:
    return user_out(await service.verify_email(body.token))


@auth.post("/password-reset/request", status_code=status.HTTP_202_ACCEPTED)
async def request_password_reset(
    body: EmailIn, service: AuthService = Depends(auth_service)
) -> dict[str, str]:
    await service.request_password_reset(body.email)
    return {"detail": "if an account exists for this address, a reset link is on its way"}


@auth.post("/password-reset", status_code=status.HTTP_204_NO_CONTENT)
async def reset_password(body: PasswordResetIn, service: AuthService = Depends(auth_service)) -> None:
    await service.reset_password(body.token, body.new_password)


@me.get("", response_model=UserOut)
async def get_me(principal: Principal = Depends(require_scope("read"))) -> UserOut:
    return user_out(principal.user)


@me.patch("", response_model=UserOut)
async def update_me(
    body: ProfileIn,
    principal: Principal = Depends(require_scope("write")),
    service: AuthService = Depends(auth_service),
) -> UserOut:
    return user_out(await service.update_profile(principal.user, body.display_name, body.time_zone))


@me.post("/password", response_model=LoginOut, response_model_exclude_none=True)
async def change_password(
    body: PasswordChangeIn,
    request: Request,
    response: Response,
    principal: Principal = Depends(current_principal),
    service: AuthService = Depends(auth_service),
) -> LoginOut:
    if principal.access_token is not None:
        raise Forbidden("sign in with your password to change it")
    result = await service.change_password(
        principal.user, principal.session, body.current_password, body.new_password
    )
    if result is None:
        return LoginOut(user=user_out(principal.user))
    return _signed_in(request, response, service, result, "cookie" if principal.via_cookie else "token")


@me.post("/reauth", response_model=ReauthOut)
async def reauthenticate(
    body: ReauthIn,
    principal: Principal = Depends(current_principal),
    service: AuthService = Depends(auth_service),
) -> ReauthOut:
    """Confirm the password (or a TOTP code) again: access tokens, two-factor settings, identity links
    and the webhook can then be changed for ``AIWFE_REAUTH_MINUTES``. Failures count towards the sign-in
    lockout."""
    until = await service.reauthenticate(principal.user, principal.session, body.password, body.code)
    return ReauthOut(reauth_until=until)


@me.post("/verify-email", status_code=status.HTTP_202_ACCEPTED)
async def resend_verification(
    principal: Principal = Depends(require_scope("write")), service: AuthService = Depends(auth_service)
) -> dict[str, str]:
    await service.request_verification(principal.user)
    return {"detail": "a verification link is on its way"}


@me.get("/sessions", response_model=list[SessionOut])
async def list_sessions(
    principal: Principal = Depends(require_scope("read")), service: AuthService = Depends(auth_service)
) -> list[SessionOut]:
    current = principal.session.id if principal.session else None
    return [
        SessionOut(
            id=s.id,
            created_at=datetime.fromtimestamp(s.created_at, UTC),
            last_seen_at=datetime.fromtimestamp(s.last_seen_at, UTC),
            ip=s.ip,
            user_agent=s.user_agent,
            mfa=s.mfa,
            current=s.id == current,
        )
        for s in await service.list_sessions(principal.user)
    ]


@me.delete("/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_session(
    session_id: str,
    principal: Principal = Depends(require_scope("write")),
    service: AuthService = Depends(auth_service),
) -> None:
    await service.revoke_session(principal.user, session_id)


@me.post("/sessions/revoke-others")
async def revoke_other_sessions(
    principal: Principal = Depends(require_scope("write")), service: AuthService = Depends(auth_service)
) -> dict[str, int]:
    return {"revoked": await service.revoke_other_sessions(principal.user, principal.session)}


@me.post("/totp/setup", response_model=TotpSetupOut)
async def totp_setup(
    principal: Principal = Depends(recently_authenticated), service: AuthService = Depends(auth_service)
) -> TotpSetupOut:
    if principal.access_token is not None:
        raise Forbidden("two-factor settings need a signed-in session")
    secret, uri, svg = await service.totp_setup(principal.user)
    return TotpSetupOut(secret=secret, otpauth_uri=uri, qr_svg=svg)


@me.post("/totp/confirm", response_model=RecoveryCodesOut)
async def totp_confirm(
    body: TotpCodeIn,
    principal: Principal = Depends(recently_authenticated),
    service: AuthService = Depends(auth_service),
) -> RecoveryCodesOut:
    if principal.access_token is not None:
        raise Forbidden("two-factor settings need a signed-in session")
    return RecoveryCodesOut(recovery_codes=await service.totp_confirm(principal.user, body.code))


@me.post("/totp/disable", status_code=status.HTTP_204_NO_CONTENT)
async def totp_disable(
    body: TotpDisableIn,
    principal: Principal = Depends(current_principal),
    service: AuthService = Depends(auth_service),
) -> None:
    if principal.access_token is not None:
        raise Forbidden("two-factor settings need a signed-in session")
    await service.totp_disable(principal.user, body.password, body.code)


@me.get("/tokens", response_model=list[AccessTokenOut])
async def list_tokens(
    principal: Principal = Depends(require_scope("read")), service: AuthService = Depends(auth_service)
) -> list[AccessTokenOut]:
    return [AccessTokenOut.model_validate(t) for t in await service.list_access_tokens(principal.user)]


@me.post("/tokens", status_code=status.HTTP_201_CREATED, response_model=AccessTokenCreatedOut)
async def create_token(
    body: AccessTokenIn,
    principal: Principal = Depends(verified_recently_authenticated),
    service: AuthService = Depends(auth_service),
) -> AccessTokenCreatedOut:
    if principal.access_token is not None:
        raise Forbidden("access tokens are created from a signed-in session")
    secret, row = await service.create_access_token(principal.user, body.name, body.scopes, body.expires_at)
    return AccessTokenCreatedOut(token=secret, **AccessTokenOut.model_validate(row).model_dump())


@me.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_token(
    token_id: uuid.UUID,
    principal: Principal = Depends(require_scope("write")),
    service: AuthService = Depends(auth_service),
) -> None:
    await service.revoke_access_token(principal.user, token_id)


@me.get("/audit", response_model=list[AuditEventOut])
async def my_audit(
    limit: int = Query(50, ge=1, le=500),
    before_id: int | None = Query(None, ge=1),
    principal: Principal = Depends(require_scope("read")),
    service: AuthService = Depends(auth_service),
) -> list[AuditEventOut]:
    rows = await audit.list_events(service.db, user_id=principal.user.id, limit=limit, before_id=before_id)
    return [AuditEventOut.model_validate(r) for r in rows]


@admin.get("/users", response_model=UserPageOut)
async def list_users(
    q: str | None = Query(None, max_length=200),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
    _: Principal = Depends(require_admin),
    service: AuthService = Depends(auth_service),
) -> UserPageOut:
    users, total = await service.list_users(q, limit, offset)
    return UserPageOut(total=total, items=[user_out(u) for u in users])


@admin.patch("/users/{user_id}", response_model=UserOut)
async def update_user(
    user_id: uuid.UUID,
    body: AdminUserPatch,
    principal: Principal = Depends(require_admin),
    service: AuthService = Depends(auth_service),
) -> UserOut:
    return user_out(await service.admin_update_user(principal.user, user_id, body.role, body.is_active))


@admin.post("/invites", status_code=status.HTTP_201_CREATED, response_model=InviteOut)
async def create_invite(
    body: InviteIn,
    principal: Principal = Depends(require_admin),
    service: AuthService = Depends(auth_service),
) -> InviteOut:
    return InviteOut.model_validate(await service.create_invite(principal.user, body.email))


@admin.get("/invites", response_model=list[InviteOut])
async def list_invites(
    _: Principal = Depends(require_admin), service: AuthService = Depends(auth_service)
) -> list[InviteOut]:
    return [InviteOut.model_validate(i) for i in await service.list_invites()]


@admin.delete("/invites/{invite_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_invite(
    invite_id: uuid.UUID,
    principal: Principal = Depends(require_admin),
    service: AuthService = Depends(auth_service),
) -> None:
    await service.revoke_invite(principal.user, invite_id)


@admin.get("/audit", response_model=list[AuditEventOut])
async def all_audit(
    limit: int = Query(50, ge=1, le=500),
    before_id: int | None = Query(None, ge=1),
    _: Principal = Depends(require_admin),
    service: AuthService = Depends(auth_service),
) -> list[AuditEventOut]:
    rows = await audit.list_events(service.db, user_id=None, limit=limit, before_id=before_id)
    return [AuditEventOut.model_validate(r) for r in rows]


routers = [auth, me, admin]
