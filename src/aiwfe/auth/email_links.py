"""Single-use links mailed to an account's address: email verification and password reset (whose mail the
worker sends, so the request takes the same time whether the account exists or not)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from aiwfe.auth import recovery
from aiwfe.auth.context import AuthContext, utcnow
from aiwfe.auth.errors import BadToken
from aiwfe.auth.models import EmailToken, TokenPurpose, User
from aiwfe.auth.ratelimit import account_key
from aiwfe.core.crypto import new_token, token_hash

SEND_PASSWORD_RESET = "aiwfe.auth.send_password_reset"  # noqa: S105 (a task name)


class EmailLinks(AuthContext):
    """Issue, mail and consume single-use email links."""

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
            .values(used_at=utcnow(self.deps.clock))
        )
        self.db.add(
            EmailToken(
                user_id=user.id,
                purpose=purpose,
                token_hash=token_hash(token),
                expires_at=utcnow(self.deps.clock) + lifetime,
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
        if row.expires_at <= utcnow(self.deps.clock):
            raise BadToken("this link has expired; ask for a new one", field="token")
        row.used_at = utcnow(self.deps.clock)
        return row

    async def verify_email(self, token: str) -> User:
        row = await self._consume(token, TokenPurpose.VERIFY_EMAIL)
        user = await self.user_by_id(row.user_id)
        assert user is not None
        user.email_verified_at = utcnow(self.deps.clock)
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
        user.password_changed_at = utcnow(self.deps.clock)
        # The link proves control of the address, so whatever was set up before (by anyone who registered
        # or signed in with it) ends here: sessions, access tokens, unverified links, webhooks, feeds.
        removed = await recovery.end_prior_access(self.db, user, utcnow(self.deps.clock))
        user.email_verified_at = user.email_verified_at or utcnow(self.deps.clock)
        sessions = await self.deps.sessions.revoke_all(user.id)
        self._audit("password_reset", user_id=user.id, sessions_revoked=sessions, removed=removed.as_dict())
        await self.db.commit()
        await self.deps.lockout.succeeded(account_key(user.email))
        body = recovery.confirmation(user, sessions, removed)
        await self.deps.send_email(user.email, "Your password was reset", body, "password_reset")
