"""The auth domain's logic, with no HTTP: registration, sign-in (password, TOTP), sessions, email flows,
access tokens and administration. Each public method is one transaction: all of it or none of it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aiwfe.auth import audit, recovery, totp
from aiwfe.auth.audit import ClientInfo
from aiwfe.auth.errors import (
    BadToken,
    EmailNotVerified,
    EmailTaken,
    Forbidden,
    InvalidCredentials,
    InvalidMfaCode,
    ReauthRequired,
    RegistrationClosed,
    WeakPassword,
)
from aiwfe.auth.models import AccessToken, EmailToken, Invite, RecoveryCode, Role, TokenPurpose, User
from aiwfe.auth.passwords import Hasher, policy_violation
from aiwfe.auth.ratelimit import Lockout, RateLimiter, account_key
from aiwfe.auth.sessions import SessionRecord, SessionStore
from aiwfe.core.clock import Clock
from aiwfe.core.crypto import decrypt, encrypt, new_token, token_hash
from aiwfe.core.errors import NotFoundError
from aiwfe.core.logging import get_logger
from aiwfe.core.settings import RegistrationMode, Settings

log = get_logger(__name__)
PAT_PREFIX = "aiwfe_pat_"
MFA_PENDING = "aiwfe:mfa-pending:"
MFA_PENDING_SECONDS = 300

SendEmail = Callable[[str, str, str, str], Awaitable[None]]
# Queue a worker task by name with keyword arguments.
RunTask = Callable[[str, dict[str, Any]], Awaitable[None]]
SEND_PASSWORD_RESET = "aiwfe.auth.send_password_reset"  # noqa: S105 (a task name)
VERIFY_FIRST = (
    "verify your email first: open the link we mailed you (or ask for a new one on your account page)"
)


async def _no_tasks(name: str, kwargs: dict[str, Any]) -> None:
    raise RuntimeError(f"no task queue here to run {name}")


@dataclass
class AuthDeps:
    """Per-process collaborators of the auth service (built once in the app's lifespan)."""

    settings: Settings
    redis: Redis
    clock: Clock
    hasher: Hasher
    sessions: SessionStore
    limiter: RateLimiter
    lockout: Lockout
    send_email: SendEmail
    run_task: RunTask = field(default=_no_tasks)

    @classmethod
    def build(
        cls,
        settings: Settings,
        redis: Redis,
        send_email: SendEmail,
        clock: Clock | None = None,
        run_task: RunTask = _no_tasks,
    ) -> AuthDeps:
        clock = clock or Clock()
        return cls(
            settings=settings,
            redis=redis,
            clock=clock,
            hasher=Hasher(settings),
            sessions=SessionStore(redis, settings, clock),
            limiter=RateLimiter(settings),
            lockout=Lockout(redis, settings, clock),
            send_email=send_email,
            run_task=run_task,
        )


@dataclass(frozen=True)
class SignedIn:
    user: User
    token: str
    session: SessionRecord


@dataclass(frozen=True)
class MfaChallenge:
    mfa_token: str


def _utcnow(clock: Clock) -> datetime:
    return datetime.fromtimestamp(clock(), UTC)


class AuthService:
    def __init__(self, db: AsyncSession, deps: AuthDeps, client: ClientInfo) -> None:
        self.db = db
        self.deps = deps
        self.settings = deps.settings
        self.client = client

    def _audit(self, event: str, **kwargs: object) -> None:
        audit.record(self.db, event, client=self.client, **kwargs)  # type: ignore[arg-type]

    async def _commit_audit(self, event: str, **kwargs: object) -> None:
        """Record an event on its own (a failed attempt whose operation is rolled back)."""
        await self.db.rollback()
        self._audit(event, **kwargs)
        await self.db.commit()

    async def user_by_email(self, email: str) -> User | None:
        return await self.db.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))

    async def user_by_id(self, user_id: uuid.UUID) -> User | None:
        return await self.db.get(User, user_id)

    def _check_policy(self, password: str, email: str, *, field: str = "password") -> None:
        """Raise if the password breaks the policy; ``field`` names the input the client sent it in."""
        reason = policy_violation(password, email)
        if reason:
            raise WeakPassword(reason, field=field)

    # ---- registration --------------------------------------------------------------------------

    async def register(
        self, email: str, password: str, display_name: str, time_zone: str, invite_token: str | None = None
    ) -> User:
        if self.client.rate_key:
            await self.deps.limiter.hit(self.settings.register_rate_per_ip, "register", self.client.rate_key)
        mode = self.settings.registration_mode
        if mode is RegistrationMode.CLOSED:
            raise RegistrationClosed("registration is closed on this server")
        if mode is RegistrationMode.INVITE and not invite_token:
            raise RegistrationClosed("registration is by invitation on this server", field="invite_token")
        self._check_policy(password, email)
        invite = await self._consume_invite(invite_token, email) if mode is RegistrationMode.INVITE else None
        existing = await self.user_by_email(email)
        if existing is not None:
            if invite:  # the invitation's link reached this address: no one is probing it
                raise EmailTaken("an account with this email already exists", field="email")
            return await self._register_taken(existing, email, password, display_name, time_zone)
        user = User(
            email=email.strip(),
            display_name=display_name,
            time_zone=time_zone,
            password_hash=await self.deps.hasher.hash(password),
            password_changed_at=_utcnow(self.deps.clock),
            # The invitation reached this address, which proves it.
            email_verified_at=_utcnow(self.deps.clock) if invite else None,
        )
        self.db.add(user)
        try:
            await self.db.flush()
        except IntegrityError:
            await self.db.rollback()
            existing = await self.user_by_email(email)
            if invite or existing is None:
                raise EmailTaken("an account with this email already exists", field="email") from None
            return await self._register_taken(existing, email, password, display_name, time_zone, hashed=True)
        self._audit("register", user_id=user.id, invited=invite is not None)
        if invite:
            await self.db.commit()
            return user
        token = await self._issue_email_token(user, TokenPurpose.VERIFY_EMAIL)
        await self.db.commit()
        await self._mail_verification(user, token)
        return user

    async def _register_taken(
        self,
        owner: User,
        email: str,
        password: str,
        display_name: str,
        time_zone: str,
        *,
        hashed: bool = False,
    ) -> User:
        """Answer a registration of a taken address exactly like a new one (no account enumeration), and
        tell the address's owner instead. The returned user is never stored."""
        if not hashed:
            await self.deps.hasher.hash(password)  # the same work as a real registration
        now = _utcnow(self.deps.clock)
        look_alike = User(
            id=uuid.uuid4(),
            email=email.strip(),
            display_name=display_name,
            time_zone=time_zone,
            role=Role.USER,
            is_active=True,
            email_verified_at=None,
            totp_enabled_at=None,
            created_at=now,
            updated_at=now,
        )
        self._audit("register", user_id=owner.id, outcome="failed", reason="email_taken")
        await self.db.commit()
        body = (
            f"Hello {owner.display_name or owner.email},\n\nsomeone tried to create a new aiwfe account "
            "with this address, which already has one. If it was you, sign in at "
            f"{self.settings.public_url}/login or reset your password at "
            f"{self.settings.public_url}/forgot-password.\n\n"
            "If it was not you, you need not do anything: no account was created.\n"
        )
        await self.deps.send_email(owner.email, "Your aiwfe account", body, "register_taken")
        return look_alike

    async def _consume_invite(self, token: str | None, email: str) -> Invite:
        row = await self.db.scalar(
            select(Invite).where(Invite.token_hash == token_hash(token or "")).with_for_update()
        )
        if row is None or row.revoked_at is not None:
            raise BadToken("this invitation is not valid", field="invite_token")
        if row.used_at is not None:
            raise BadToken("this invitation was already used", field="invite_token")
        if row.expires_at <= _utcnow(self.deps.clock):
            raise BadToken("this invitation has expired; ask for a new one", field="invite_token")
        if row.email.strip().lower() != email.strip().lower():
            raise BadToken("this invitation is for another email address", field="invite_token")
        row.used_at = _utcnow(self.deps.clock)
        return row

    async def create_invite(self, admin: User, email: str) -> Invite:
        """Invite ``email`` to register; the link is mailed and never stored."""
        if await self.user_by_email(email):
            raise EmailTaken("an account with this email already exists", field="email")
        token = new_token(32)
        invite = Invite(
            email=email.strip(),
            token_hash=token_hash(token),
            created_by=admin.id,
            expires_at=_utcnow(self.deps.clock) + timedelta(days=self.settings.invite_days),
        )
        self.db.add(invite)
        await self.db.flush()
        self._audit("invite_created", user_id=admin.id, invite=str(invite.id))
        await self.db.commit()
        await self.db.refresh(invite)
        link = f"{self.settings.public_url}/register?invite_token={token}"
        body = (
            f"{admin.display_name or admin.email} invites you to aiwfe.\n\nCreate your account with this "
            f"address here:\n\n{link}\n\n"
            f"The link works once and expires in {self.settings.invite_days} days.\n"
        )
        await self.deps.send_email(email, "You are invited to aiwfe", body, "invite")
        return invite

    async def list_invites(self) -> list[Invite]:
        rows = await self.db.scalars(select(Invite).order_by(Invite.created_at.desc()).limit(500))
        return list(rows.all())

    async def revoke_invite(self, admin: User, invite_id: uuid.UUID) -> None:
        row = await self.db.get(Invite, invite_id)
        if row is None:
            raise NotFoundError("no such invitation")
        if row.revoked_at is None and row.used_at is None:
            row.revoked_at = _utcnow(self.deps.clock)
            self._audit("invite_revoked", user_id=admin.id, invite=str(row.id))
            await self.db.commit()

    async def create_admin(self, email: str, password: str, display_name: str = "") -> User:
        """Create an administrator (``aiwfe create-admin``), verified, whatever the registration mode."""
        self._check_policy(password, email)
        if await self.user_by_email(email):
            raise EmailTaken("an account with this email already exists", field="email")
        now = _utcnow(self.deps.clock)
        user = User(
            email=email.strip(),
            display_name=display_name,
            role=Role.ADMIN,
            email_verified_at=now,
            password_hash=await self.deps.hasher.hash(password),
            password_changed_at=now,
        )
        self.db.add(user)
        await self.db.flush()
        self._audit("admin_created", user_id=user.id)
        await self.db.commit()
        return user

    # ---- sign-in ---------------------------------------------------------------------------------

    async def login(
        self, email: str, password: str, *, replacing: str | None = None
    ) -> SignedIn | MfaChallenge:
        account = account_key(email)
        if self.client.rate_key:
            await self.deps.limiter.hit(self.settings.login_rate_per_ip, "login-ip", self.client.rate_key)
        await self.deps.limiter.hit(self.settings.login_rate_per_account, "login-account", account)
        await self.deps.lockout.check(account)

        user = await self.user_by_email(email)
        # End the read transaction so its connection goes back to the pool while argon2 runs: under a
        # sign-in burst the hash may queue for seconds, and held connections would starve every request.
        await self.db.commit()
        usable = user is not None and user.is_active
        ok = await self.deps.hasher.verify(user.password_hash if usable and user else None, password)
        if not ok or user is None:
            locked_for = await self.deps.lockout.failed(account)
            await self._commit_audit(
                "login",
                user_id=user.id if user else None,
                outcome="locked" if locked_for else "failed",
            )
            # Unknown email, wrong password and inactive account answer identically.
            raise InvalidCredentials("email or password is wrong")

        if user.password_hash and self.deps.hasher.needs_rehash(user.password_hash):
            user.password_hash = await self.deps.hasher.hash(password)
        if replacing:
            await self._revoke_token_session(replacing)
        if user.totp_enabled_at is not None:
            mfa_token = new_token(32)
            await self.deps.redis.set(
                MFA_PENDING + token_hash(mfa_token), str(user.id), ex=MFA_PENDING_SECONDS
            )
            self._audit("login_password_ok", user_id=user.id, mfa="pending")
            await self.db.commit()
            return MfaChallenge(mfa_token)
        await self.deps.lockout.succeeded(account)
        return await self._sign_in(user, mfa=False, reauth=True)

    async def _sign_in(self, user: User, *, mfa: bool, reauth: bool) -> SignedIn:
        """A new session; ``reauth`` when the sign-in itself checked a password or a TOTP code."""
        token, record = await self.deps.sessions.create(
            user.id, self.client.ip or "", self.client.user_agent, mfa=mfa, reauth=reauth
        )
        self._audit("login", user_id=user.id, session=record.short_id, mfa=mfa)
        await self.db.commit()
        return SignedIn(user, token, record)

    async def sign_in_external(self, user: User, method: str) -> SignedIn | MfaChallenge:
        """Sign in a user whose first factor another domain proved (an OAuth provider); TOTP still applies."""
        if user.totp_enabled_at is not None:
            mfa_token = new_token(32)
            await self.deps.redis.set(
                MFA_PENDING + token_hash(mfa_token), str(user.id), ex=MFA_PENDING_SECONDS
            )
            self._audit("login_first_factor_ok", user_id=user.id, method=method, mfa="pending")
            await self.db.commit()
            return MfaChallenge(mfa_token)
        # A provider proved the first factor, not this server: sensitive changes still ask for a password.
        return await self._sign_in(user, mfa=False, reauth=False)

    async def login_mfa(self, mfa_token: str, code: str | None, recovery_code: str | None) -> SignedIn:
        key = MFA_PENDING + token_hash(mfa_token)
        user_id = await self.deps.redis.get(key)
        if user_id is None:
            raise BadToken("the sign-in step expired or is unknown; sign in again", field="mfa_token")
        user = await self.user_by_id(uuid.UUID(str(user_id)))
        if user is None or not user.is_active or user.totp_secret_encrypted is None:
            raise BadToken("the sign-in step is no longer valid; sign in again", field="mfa_token")
        account = account_key(user.email)
        await self.deps.lockout.check(account)
        if code:
            ok = await self._accept_totp(user, code)
            method = "totp"
        elif recovery_code:
            ok = await self._use_recovery_code(user, recovery_code)
            method = "recovery_code"
        else:
            raise InvalidMfaCode("send a code or a recovery code", field="code")
        if not ok:
            await self.deps.lockout.failed(account)
            await self._commit_audit("login_mfa", user_id=user.id, outcome="failed", method=method)
            raise InvalidMfaCode(
                "the code is wrong or was already used",
                field="code" if method == "totp" else "recovery_code",
            )
        await self.deps.redis.delete(key)
        await self.deps.lockout.succeeded(account)
        if method == "recovery_code":
            self._audit("recovery_code_used", user_id=user.id)
        return await self._sign_in(user, mfa=True, reauth=method == "totp")

    async def _accept_totp(self, user: User, code: str) -> bool:
        assert user.totp_secret_encrypted is not None
        secret = decrypt(self.settings, user.totp_secret_encrypted)
        step = totp.matching_step(secret, code, self.deps.clock())
        if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
            return False
        # Conditional update: two concurrent requests with one code cannot both win.
        result = await self.db.execute(
            update(User)
            .where(User.id == user.id, or_(User.totp_last_step.is_(None), User.totp_last_step < step))
            .values(totp_last_step=step)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def _use_recovery_code(self, user: User, code: str) -> bool:
        hashed = token_hash(totp.normalise_recovery_code(code))
        result = await self.db.execute(
            update(RecoveryCode)
            .where(
                RecoveryCode.user_id == user.id,
                RecoveryCode.code_hash == hashed,
                RecoveryCode.used_at.is_(None),
            )
            .values(used_at=_utcnow(self.deps.clock))
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def _revoke_token_session(self, token: str) -> None:
        record = await self.deps.sessions.get(token)
        if record:
            await self.deps.sessions.revoke(record.user_id, record.id)

    async def logout(self, user: User, session: SessionRecord) -> None:
        await self.deps.sessions.revoke(user.id, session.id)
        self._audit("logout", user_id=user.id, session=session.short_id)
        await self.db.commit()

    # ---- proving it is the account's holder again ----------------------------------------------------

    async def _check_password(self, user: User, password: str, *, event: str, field: str) -> None:
        """Verify ``password`` under the same per-account rate limit and lockout as sign-in."""
        account = account_key(user.email)
        await self.deps.limiter.hit(self.settings.login_rate_per_account, "login-account", account)
        await self.deps.lockout.check(account)
        if not await self.deps.hasher.verify(user.password_hash, password):
            locked_for = await self.deps.lockout.failed(account)
            await self._commit_audit(event, user_id=user.id, outcome="locked" if locked_for else "failed")
            raise InvalidCredentials("the password is wrong", field=field)
        await self.deps.lockout.succeeded(account)

    async def _check_totp(self, user: User, code: str, *, event: str, recovery: bool = False) -> None:
        """Accept a TOTP code (or, with ``recovery``, a recovery code) under the sign-in lockout."""
        account = account_key(user.email)
        await self.deps.limiter.hit(self.settings.login_rate_per_account, "login-account", account)
        await self.deps.lockout.check(account)
        ok = user.totp_secret_encrypted is not None and await self._accept_totp(user, code)
        if not ok and recovery:
            ok = await self._use_recovery_code(user, code)
        if not ok:
            locked_for = await self.deps.lockout.failed(account)
            await self._commit_audit(event, user_id=user.id, outcome="locked" if locked_for else "failed")
            raise InvalidMfaCode("the code is wrong or was already used", field="code")
        await self.deps.lockout.succeeded(account)

    async def reauthenticate(
        self, user: User, session: SessionRecord | None, password: str | None, code: str | None
    ) -> datetime:
        """Check the password or a TOTP code and record it on the session; returns until when it counts."""
        if session is None:
            raise Forbidden("re-authentication is for signed-in sessions; access tokens cannot")
        if password is not None:
            await self._check_password(user, password, event="reauth", field="password")
            method = "password"
        elif code is not None:
            if user.totp_enabled_at is None:
                raise InvalidMfaCode("two-factor authentication is not on; use your password", field="code")
            await self._check_totp(user, code, event="reauth")
            method = "totp"
        else:
            raise InvalidCredentials(
                "send your password or a code from your authenticator app", field="password"
            )
        at = await self.deps.sessions.mark_reauth(session.id)
        self._audit("reauth", user_id=user.id, session=session.short_id, method=method)
        await self.db.commit()
        return datetime.fromtimestamp(at + self.settings.reauth_minutes * 60, UTC)

    def require_recent_auth(self, session: SessionRecord | None) -> None:
        """Raise unless the session proved its password or a TOTP code within ``reauth_minutes``."""
        if session is None:
            raise Forbidden("this needs a signed-in session; access tokens cannot do it")
        if self.deps.clock() - session.reauth_at > self.settings.reauth_minutes * 60:
            raise ReauthRequired(
                "confirm your password (or a code from your authenticator app) first: POST /api/v1/me/reauth"
            )

    @staticmethod
    def require_verified(user: User) -> None:
        if user.email_verified_at is None:
            raise EmailNotVerified(VERIFY_FIRST)

    # ---- resolving a request's credentials --------------------------------------------------------

    async def authenticate_session(self, token: str) -> tuple[User, SessionRecord] | None:
        record = await self.deps.sessions.get(token)
        if record is None:
            return None
        user = await self.user_by_id(record.user_id)
        if user is None or not user.is_active:
            await self.deps.sessions.revoke_all(record.user_id)
            return None
        return user, record

    async def authenticate_access_token(self, token: str) -> tuple[User, AccessToken] | None:
        found = await self.db.scalar(select(AccessToken).where(AccessToken.token_hash == token_hash(token)))
        now = _utcnow(self.deps.clock)
        if found is None or found.revoked_at is not None or (found.expires_at and found.expires_at <= now):
            return None
        user = await self.user_by_id(found.user_id)
        if user is None or not user.is_active:
            return None
        if found.last_used_at is None or now - found.last_used_at > timedelta(minutes=1):
            found.last_used_at = now
            await self.db.commit()
        return user, found

    # ---- profile, password and sessions -------------------------------------------------------

    async def update_profile(self, user: User, display_name: str | None, time_zone: str | None) -> User:
        if display_name is not None:
            user.display_name = display_name
        if time_zone is not None:
            user.time_zone = time_zone
        self._audit("profile_updated", user_id=user.id)
        await self.db.commit()
        await self.db.refresh(user)
        return user

    async def change_password(
        self, user: User, session: SessionRecord | None, current: str, new: str
    ) -> SignedIn | None:
        """Change the password; every other session is revoked and the current one is replaced."""
        await self._check_password(user, current, event="password_change", field="current_password")
        self._check_policy(new, user.email, field="new_password")
        user.password_hash = await self.deps.hasher.hash(new)
        user.password_changed_at = _utcnow(self.deps.clock)
        revoked = await self.deps.sessions.revoke_all(user.id)
        self._audit("password_change", user_id=user.id, sessions_revoked=revoked)
        await self.db.commit()
        if session is None:
            return None
        return await self._sign_in(user, mfa=session.mfa, reauth=True)

    async def list_sessions(self, user: User) -> list[SessionRecord]:
        return await self.deps.sessions.list(user.id)

    async def revoke_session(self, user: User, session_id: str) -> None:
        if not await self.deps.sessions.revoke(user.id, session_id):
            raise NotFoundError("no such session")
        self._audit("session_revoked", user_id=user.id, session=session_id[:8])
        await self.db.commit()

    async def revoke_other_sessions(self, user: User, current: SessionRecord | None) -> int:
        count = await self.deps.sessions.revoke_all(user.id, keep=current.id if current else None)
        self._audit("session_revoked", user_id=user.id, count=count, scope="others")
        await self.db.commit()
        return count

    # ---- email verification and password reset ------------------------------------------------

    async def _issue_email_token(self, user: User, purpose: TokenPurpose) -> str:
        token = new_token(32)
        lifetime = (
            timedelta(hours=self.settings.verify_token_hours)
            if purpose is TokenPurpose.VERIFY_EMAIL
            else timedelta(minutes=self.settings.reset_token_minutes)
        )
        # A new token supersedes earlier unused ones of the same purpose.
        await self.db.execute(
            update(EmailToken)
            .where(EmailToken.user_id == user.id, EmailToken.purpose == purpose, EmailToken.used_at.is_(None))
            .values(used_at=_utcnow(self.deps.clock))
        )
        self.db.add(
            EmailToken(
                user_id=user.id,
                purpose=purpose,
                token_hash=token_hash(token),
                expires_at=_utcnow(self.deps.clock) + lifetime,
            )
        )
        return token

    async def _mail_verification(self, user: User, token: str) -> None:
        link = f"{self.settings.public_url}/verify-email?token={token}"
        body = (
            f"Hello {user.display_name or user.email},\n\nconfirm your email address for aiwfe:\n\n{link}\n\n"
            f"The link works once and expires in {self.settings.verify_token_hours} hours.\n"
        )
        await self.deps.send_email(user.email, "Confirm your email address", body, "verify_email")

    async def request_verification(self, user: User) -> None:
        if user.email_verified_at is not None:
            return
        if self.client.rate_key:
            await self.deps.limiter.hit(self.settings.email_rate_per_ip, "email", self.client.rate_key)
        token = await self._issue_email_token(user, TokenPurpose.VERIFY_EMAIL)
        await self.db.commit()
        await self._mail_verification(user, token)

    async def _consume(self, token: str, purpose: TokenPurpose) -> EmailToken:
        row = await self.db.scalar(
            select(EmailToken).where(EmailToken.token_hash == token_hash(token)).with_for_update()
        )
        if row is None or row.purpose is not purpose:
            raise BadToken("this link is not valid", field="token")
        if row.used_at is not None:
            raise BadToken("this link was already used or replaced by a newer one", field="token")
        if row.expires_at <= _utcnow(self.deps.clock):
            raise BadToken("this link has expired; ask for a new one", field="token")
        row.used_at = _utcnow(self.deps.clock)
        return row

    async def verify_email(self, token: str) -> User:
        row = await self._consume(token, TokenPurpose.VERIFY_EMAIL)
        user = await self.user_by_id(row.user_id)
        assert user is not None
        user.email_verified_at = _utcnow(self.deps.clock)
        self._audit("email_verified", user_id=user.id)
        await self.db.commit()
        return user

    async def request_password_reset(self, email: str) -> None:
        """Queue the reset for the worker. The request never looks the address up, so it does the same
        work (and takes the same time) whether an account exists or not."""
        if self.client.rate_key:
            await self.deps.limiter.hit(self.settings.email_rate_per_ip, "email", self.client.rate_key)
        await self.deps.limiter.hit(self.settings.login_rate_per_account, "reset-account", account_key(email))
        await self.deps.run_task(SEND_PASSWORD_RESET, {"email": email.strip()})

    async def send_password_reset(self, email: str) -> bool:
        """The worker's half: mail a reset link when an active account has this address."""
        user = await self.user_by_email(email)
        if user is None or not user.is_active:
            return False
        token = await self._issue_email_token(user, TokenPurpose.RESET_PASSWORD)
        self._audit("password_reset_requested", user_id=user.id)
        await self.db.commit()
        link = f"{self.settings.public_url}/reset-password?token={token}"
        body = (
            f"Someone asked to reset the password of your aiwfe account.\n\n{link}\n\n"
            f"The link works once and expires in {self.settings.reset_token_minutes} minutes. "
            "If it was not you, ignore this message.\n"
        )
        await self.deps.send_email(user.email, "Reset your password", body, "reset_password")
        return True

    async def reset_password(self, token: str, new_password: str) -> None:
        row = await self._consume(token, TokenPurpose.RESET_PASSWORD)
        user = await self.user_by_id(row.user_id)
        assert user is not None
        self._check_policy(new_password, user.email, field="new_password")
        user.password_hash = await self.deps.hasher.hash(new_password)
        user.password_changed_at = _utcnow(self.deps.clock)
        # The link proves control of the address, so whatever was set up before (by anyone who registered
        # or signed in with it) ends here: sessions, access tokens, unverified links, webhooks, feeds.
        removed = await recovery.end_prior_access(self.db, user, _utcnow(self.deps.clock))
        user.email_verified_at = user.email_verified_at or _utcnow(self.deps.clock)
        sessions = await self.deps.sessions.revoke_all(user.id)
        self._audit("password_reset", user_id=user.id, sessions_revoked=sessions, removed=removed.as_dict())
        await self.db.commit()
        await self.deps.lockout.succeeded(account_key(user.email))
        body = recovery.confirmation(user, sessions, removed)
        await self.deps.send_email(user.email, "Your password was reset", body, "password_reset")

    # ---- TOTP ------------------------------------------------------------------------------------

    async def totp_setup(self, user: User) -> tuple[str, str, str]:
        if user.totp_enabled_at is not None:
            raise Forbidden("two-factor authentication is already on; disable it first")
        secret = totp.new_secret()
        user.totp_secret_encrypted = encrypt(self.settings, secret)
        user.totp_last_step = None
        await self.db.commit()
        uri = totp.provisioning_uri(secret, user.email)
        return secret, uri, totp.qr_svg(uri)

    async def totp_confirm(self, user: User, code: str) -> list[str]:
        if user.totp_enabled_at is not None or user.totp_secret_encrypted is None:
            raise Forbidden("start the set-up first")
        if not await self._accept_totp(user, code):
            raise InvalidMfaCode("the code is wrong; check your device's clock", field="code")
        codes = totp.new_recovery_codes()
        await self.db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        self.db.add_all(RecoveryCode(user_id=user.id, code_hash=token_hash(c)) for c in codes)
        user.totp_enabled_at = _utcnow(self.deps.clock)
        self._audit("totp_enabled", user_id=user.id)
        await self.db.commit()
        return codes

    async def totp_disable(self, user: User, password: str, code: str) -> None:
        if user.totp_enabled_at is None:
            raise Forbidden("two-factor authentication is not on")
        # The password and the code, checked under the sign-in lockout, are this change's re-authentication.
        await self._check_password(user, password, event="totp_disabled", field="password")
        await self._check_totp(user, code, event="totp_disabled", recovery=True)
        user.totp_enabled_at = None
        user.totp_secret_encrypted = None
        user.totp_last_step = None
        await self.db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        self._audit("totp_disabled", user_id=user.id)
        await self.db.commit()

    # ---- personal access tokens ----------------------------------------------------------------

    async def create_access_token(
        self, user: User, name: str, scopes: Sequence[str], expires_at: datetime | None
    ) -> tuple[str, AccessToken]:
        self.require_verified(user)
        if "admin" in scopes and user.role is not Role.ADMIN:
            raise Forbidden("only administrators can create admin-scoped tokens", field="scopes")
        now = _utcnow(self.deps.clock)
        if expires_at is not None and expires_at <= now:
            raise BadToken("expires_at must be in the future", field="expires_at")
        if expires_at is None:
            expires_at = now + timedelta(days=self.settings.access_token_default_days)
        secret = PAT_PREFIX + new_token(32)
        row = AccessToken(
            user_id=user.id,
            name=name,
            scopes=sorted(set(scopes)),
            token_hash=token_hash(secret),
            prefix=secret[: len(PAT_PREFIX) + 4],
            expires_at=expires_at,
        )
        self.db.add(row)
        await self.db.flush()
        self._audit("token_created", user_id=user.id, token=str(row.id), scopes=row.scopes)
        await self.db.commit()
        await self.db.refresh(row)
        return secret, row

    async def list_access_tokens(self, user: User) -> list[AccessToken]:
        rows = await self.db.scalars(
            select(AccessToken).where(AccessToken.user_id == user.id).order_by(AccessToken.created_at)
        )
        return list(rows.all())

    async def revoke_access_token(self, user: User, token_id: uuid.UUID) -> None:
        row = await self.db.get(AccessToken, token_id)
        if row is None or row.user_id != user.id:
            raise NotFoundError("no such token")
        if row.revoked_at is None:
            row.revoked_at = _utcnow(self.deps.clock)
            self._audit("token_revoked", user_id=user.id, token=str(row.id))
            await self.db.commit()

    # ---- administration --------------------------------------------------------------------------

    async def list_users(self, query: str | None, limit: int, offset: int) -> tuple[list[User], int]:
        stmt = select(User)
        if query:
            pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            stmt = stmt.where(or_(User.email.ilike(pattern), User.display_name.ilike(pattern)))
        total = await self.db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        rows = await self.db.scalars(stmt.order_by(User.created_at, User.id).limit(limit).offset(offset))
        return list(rows.all()), int(total)

    async def admin_update_user(
        self, admin: User, user_id: uuid.UUID, role: Role | None, is_active: bool | None
    ) -> User:
        user = await self.user_by_id(user_id)
        if user is None:
            raise NotFoundError("no such user")
        if user.id == admin.id and (is_active is False or role is Role.USER):
            raise Forbidden("administrators cannot demote or deactivate themselves")
        if role is not None and role is not user.role:
            self._audit(
                "role_changed", user_id=user.id, actor_id=admin.id, old=user.role.value, new=role.value
            )
            user.role = role
            await self.deps.sessions.revoke_all(user.id)  # privilege change: new sessions only
        if is_active is False and user.is_active:
            user.is_active = False
            await self.deps.sessions.revoke_all(user.id)
            await self.db.execute(
                update(AccessToken)
                .where(AccessToken.user_id == user.id, AccessToken.revoked_at.is_(None))
                .values(revoked_at=_utcnow(self.deps.clock))
            )
            self._audit("user_deactivated", user_id=user.id, actor_id=admin.id)
        elif is_active is True and not user.is_active:
            user.is_active = True
            self._audit("user_reactivated", user_id=user.id, actor_id=admin.id)
        await self.db.commit()
        await self.db.refresh(user)
        return user
