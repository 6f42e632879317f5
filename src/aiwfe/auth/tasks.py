"""Worker tasks of the auth domain: the password-reset mail (off the request path, so the request takes the
same time whether the account exists or not) and audit-log retention."""

from __future__ import annotations

import asyncio

from celery import shared_task

from aiwfe.auth import audit
from aiwfe.auth.audit import ClientInfo
from aiwfe.auth.service import SEND_PASSWORD_RESET, AuthDeps, AuthService
from aiwfe.core.db import create_engine, create_sessionmaker
from aiwfe.core.logging import get_logger
from aiwfe.core.redis import create_redis
from aiwfe.core.settings import get_settings

log = get_logger(__name__)
PURGE_AUDIT = "aiwfe.auth.purge_audit"


@shared_task(name=PURGE_AUDIT)
def purge_audit() -> int:
    """Delete audit events older than ``AIWFE_AUDIT_RETENTION_DAYS``; returns how many."""
    settings = get_settings()

    async def run() -> int:
        engine = create_engine(settings)
        try:
            async with create_sessionmaker(engine)() as db:
                return await audit.purge_older_than(db, settings.audit_retention_days)
        finally:
            await engine.dispose()

    removed = asyncio.run(run())
    log.info("audit_purged", removed=removed, retention_days=settings.audit_retention_days)
    return removed


@shared_task(name=SEND_PASSWORD_RESET)
def send_password_reset(email: str) -> bool:
    """Mail a reset link when an active account has ``email``; returns whether one was sent."""
    from aiwfe.notify.tasks import send_email

    settings = get_settings()

    async def mail(to: str, subject: str, body: str, kind: str) -> None:
        send_email.delay(to=to, subject=subject, body=body, kind=kind)

    async def run() -> bool:
        engine, redis = create_engine(settings), create_redis(settings)
        try:
            deps = AuthDeps.build(settings, redis, mail)
            async with create_sessionmaker(engine)() as db:
                service = AuthService(db, deps, ClientInfo(None, "aiwfe-worker"))
                return await service.send_password_reset(email)
        finally:
            await redis.aclose()
            await engine.dispose()

    sent = asyncio.run(run())
    log.info("password_reset_processed", mailed=sent)
    return sent
