"""Administration of other users: searching them, changing a role, deactivating and reactivating."""

from __future__ import annotations

import uuid

from sqlalchemy import func, or_, select, update

from aiwfe.auth.context import AuthContext, utcnow
from aiwfe.auth.errors import Forbidden
from aiwfe.auth.models import AccessToken, Role, User
from aiwfe.core.errors import NotFoundError


class Administration(AuthContext):
    """What an administrator does to other accounts."""

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
                .values(revoked_at=utcnow(self.deps.clock))
            )
            self._audit("user_deactivated", user_id=user.id, actor_id=admin.id)
        elif is_active is True and not user.is_active:
            user.is_active = True
            self._audit("user_reactivated", user_id=user.id, actor_id=admin.id)
        await self.db.commit()
        await self.db.refresh(user)
        return user
