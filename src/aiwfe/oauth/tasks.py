"""Scheduled oauth upkeep: refresh connected accounts' tokens before they expire (beat, every minute)."""

from __future__ import annotations

from celery import shared_task

from aiwfe.core.logging import get_logger
from aiwfe.core.settings import get_settings
from aiwfe.notify.tasks import send_email
from aiwfe.oauth.connected import ConnectedAccounts, RefreshReport
from aiwfe.oauth.service import OAuthDeps
from aiwfe.worker.resources import TaskResources, run_async

log = get_logger(__name__)
REFRESH_TOKENS = "aiwfe.oauth.refresh_tokens"


async def _refresh(task: TaskResources) -> RefreshReport:
    deps = OAuthDeps.build(task.settings, task.redis)
    try:
        async with task.sessions() as db:
            return await ConnectedAccounts(db, deps).refresh_due()
    finally:
        await deps.aclose()


@shared_task(name=REFRESH_TOKENS)
def refresh_tokens() -> dict[str, int]:
    """Refresh due tokens; mail each owner whose account the provider no longer accepts."""
    settings = get_settings()
    report = run_async(_refresh, settings)
    for notice in report.reconnect:
        send_email.delay(
            to=notice.email,
            subject=f"Reconnect your {notice.provider} account",
            body=(
                f"{notice.provider} no longer accepts aiwfe's access to your account, so what uses it "
                f"(such as calendar sync) has stopped.\n\nSign in at {settings.public_url} and link "
                f"{notice.provider} again from your account settings.\n"
            ),
            kind="oauth_reconnect",
        )
    result = {"refreshed": report.refreshed, "failed": report.failed, "reconnect": len(report.reconnect)}
    log.info("oauth_tokens_refreshed", **result)
    return result
