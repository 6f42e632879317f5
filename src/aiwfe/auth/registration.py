"""Creating accounts: self-registration (open or by invitation, never telling whether an address is taken),
invitations, and the first administrator."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from aiwfe.auth.context import utcnow
from aiwfe.auth.email_links import EmailLinks
from aiwfe.auth.errors import BadToken, EmailTaken, RegistrationClosed
from aiwfe.auth.models import Invite, Role, TokenPurpose, User
from aiwfe.core.crypto import new_token, token_hash
from aiwfe.core.errors import NotFoundError
from aiwfe.core.settings import RegistrationMode


class Registration(EmailLinks):
    """New accounts and invitations; verification links come from ``EmailLinks``."""

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
            password_changed_at=utcnow(self.deps.clock),
            # The invitation reached this address, which proves it.
            email_verified_at=utcnow(self.deps.clock) if invite else None,
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
        now = utcnow(self.deps.clock)
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
        if row.expires_at <= utcnow(self.deps.clock):
            raise BadToken("this invitation has expired; ask for a new one", field="invite_token")
        if row.email.strip().lower() != email.strip().lower():
            raise BadToken("this invitation is for another email address", field="invite_token")
        row.used_at = utcnow(self.deps.clock)
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
            expires_at=utcnow(self.deps.clock) + timedelta(days=self.settings.invite_days),
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
            row.revoked_at = utcnow(self.deps.clock)
            self._audit("invite_revoked", user_id=admin.id, invite=str(row.id))
            await self.db.commit()

    async def create_admin(self, email: str, password: str, display_name: str = "") -> User:
        """Create an administrator (``aiwfe create-admin``), verified, whatever the registration mode."""
        self._check_policy(password, email)
        if await self.user_by_email(email):
            raise EmailTaken("an account with this email already exists", field="email")
        now = utcnow(self.deps.clock)
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
