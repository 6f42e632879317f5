"""Worker tasks of the auth domain: the password-reset mail (off the request path, so the request takes the
same time whether the account exists or not) and audit-log retention."""

from __future__ import annotations

from celery import shared_task

from aiwfe.auth import audit
from aiwfe.auth.audit import ClientInfo
from aiwfe.auth.service import SEND_PASSWORD_RESET, AuthDeps, AuthService
from aiwfe.core.logging import get_logger
from aiwfe.core.settings import get_settings
from aiwfe.worker.resources import TaskResources, run_async

log = get_logger(__name__)
PURGE_AUDIT = "aiwfe.auth.purge_audit"


@shared_task(name=PURGE_AUDIT)
def purge_audit() -> int:
    """Delete audit events older than ``AIWFE_AUDIT_RETENTION_DAYS``; returns how many."""
    settings = get_settings()

    async def run(task: TaskResources) -> int:
        async with task.sessions() as db:
            return await audit.purge_older_than(db, settings.audit_retention_days)

    removed = run_async(run, settings)
    log.info("audit_purged", removed=removed, retention_days=settings.audit_retention_days)
    return removed


@shared_task(name=SEND_PASSWORD_RESET)
def send_password_reset(email: str) -> bool:
    """Mail a reset link when an active account has ``email``; returns whether one was sent."""
    from aiwfe.notify.tasks import send_email

    settings = get_settings()

    async def mail(to: str, subject: str, body: str, kind: str) -> None:
        send_email.delay(to=to, subject=subject, body=body, kind=kind)

    async def run(task: TaskResources) -> bool:
        deps = AuthDeps.build(settings, task.redis, mail)
        async with task.sessions() as db:
            service = AuthService(db, deps, ClientInfo(None, "aiwfe-worker"))
            return await service.send_password_reset(email)

    sent = run_async(run, settings)
    log.info("password_reset_processed", mailed=sent)
    return sent
