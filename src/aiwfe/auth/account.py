"""A signed-in user's own account: profile, password change, their sessions, and two-factor set-up."""

from __future__ import annotations

from sqlalchemy import delete

from aiwfe.auth import totp
from aiwfe.auth.context import utcnow
from aiwfe.auth.errors import Forbidden, InvalidMfaCode
from aiwfe.auth.models import RecoveryCode, User
from aiwfe.auth.sessions import SessionRecord
from aiwfe.auth.signin import SignedIn, SignIn
from aiwfe.core.crypto import encrypt, token_hash
from aiwfe.core.errors import NotFoundError


class Account(SignIn):
    """The user's own settings; changes that need the password reuse ``SignIn``'s checks."""

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
        user.password_changed_at = utcnow(self.deps.clock)
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
        user.totp_enabled_at = utcnow(self.deps.clock)
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
