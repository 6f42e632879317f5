"""What every part of the auth service shares: its per-process collaborators (``AuthDeps``) and the
per-request base (``AuthContext``: the session, the caller, the audit log, user lookups, the password policy).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aiwfe.auth import audit
from aiwfe.auth.audit import ClientInfo
from aiwfe.auth.errors import EmailNotVerified, WeakPassword
from aiwfe.auth.models import User
from aiwfe.auth.passwords import Hasher, policy_violation
from aiwfe.auth.ratelimit import Lockout, RateLimiter
from aiwfe.auth.sessions import SessionStore
from aiwfe.core.clock import Clock
from aiwfe.core.settings import Settings

SendEmail = Callable[[str, str, str, str], Awaitable[None]]
# Queue a worker task by name with keyword arguments.
RunTask = Callable[[str, dict[str, Any]], Awaitable[None]]
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


def utcnow(clock: Clock) -> datetime:
    return datetime.fromtimestamp(clock(), UTC)


class AuthContext:
    """One request's (or task's) view of the auth domain; each public method of a subclass is one
    transaction: all of it or none of it."""

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

    @staticmethod
    def require_verified(user: User) -> None:
        if user.email_verified_at is None:
            raise EmailNotVerified(VERIFY_FIRST)
