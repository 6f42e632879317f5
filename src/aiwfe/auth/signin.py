"""Signing in and proving it again: password and TOTP sign-in, sign-out, re-authentication, and resolving a
session cookie to its user."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import or_, update

from aiwfe.auth import totp
from aiwfe.auth.context import AuthContext, utcnow
from aiwfe.auth.errors import BadToken, Forbidden, InvalidCredentials, InvalidMfaCode, ReauthRequired
from aiwfe.auth.models import RecoveryCode, User
from aiwfe.auth.ratelimit import account_key
from aiwfe.auth.sessions import SessionRecord
from aiwfe.core.crypto import decrypt, new_token, token_hash

MFA_PENDING = "aiwfe:mfa-pending:"
MFA_PENDING_SECONDS = 300


@dataclass(frozen=True)
class SignedIn:
    user: User
    token: str
    session: SessionRecord


@dataclass(frozen=True)
class MfaChallenge:
    mfa_token: str


class SignIn(AuthContext):
    """Sign-in, sign-out and re-authentication, under the per-account lockout."""

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
        ok = await self.deps.hasher.verify(
            user.password_hash if usable and user else None, password, holds_no_connection=True
        )
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
            .values(used_at=utcnow(self.deps.clock))
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

    async def authenticate_session(self, token: str) -> tuple[User, SessionRecord] | None:
        record = await self.deps.sessions.get(token)
        if record is None:
            return None
        user = await self.user_by_id(record.user_id)
        if user is None or not user.is_active:
            await self.deps.sessions.revoke_all(record.user_id)
            return None
        return user, record
