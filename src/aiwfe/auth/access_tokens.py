"""Personal access tokens (``aiwfe_pat_…``): create, list and revoke them; resolve one to its user."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select

from aiwfe.auth.context import AuthContext, utcnow
from aiwfe.auth.errors import BadToken, Forbidden
from aiwfe.auth.models import AccessToken, Role, User
from aiwfe.core.crypto import new_token, token_hash
from aiwfe.core.errors import NotFoundError

PAT_PREFIX = "aiwfe_pat_"


class AccessTokens(AuthContext):
    """A user's personal access tokens."""

    async def create_access_token(
        self, user: User, name: str, scopes: Sequence[str], expires_at: datetime | None
    ) -> tuple[str, AccessToken]:
        self.require_verified(user)
        if "admin" in scopes and user.role is not Role.ADMIN:
            raise Forbidden("only administrators can create admin-scoped tokens", field="scopes")
        now = utcnow(self.deps.clock)
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
            row.revoked_at = utcnow(self.deps.clock)
            self._audit("token_revoked", user_id=user.id, token=str(row.id))
            await self.db.commit()

    async def authenticate_access_token(self, token: str) -> tuple[User, AccessToken] | None:
        found = await self.db.scalar(select(AccessToken).where(AccessToken.token_hash == token_hash(token)))
        now = utcnow(self.deps.clock)
        if found is None or found.revoked_at is not None or (found.expires_at and found.expires_at <= now):
            return None
        user = await self.user_by_id(found.user_id)
        if user is None or not user.is_active:
            return None
        if found.last_used_at is None or now - found.last_used_at > timedelta(minutes=1):
            found.last_used_at = now
            await self.db.commit()
        return user, found
