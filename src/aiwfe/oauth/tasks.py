"""Scheduled oauth upkeep: refresh connected accounts' tokens before they expire (beat, every minute)."""

from __future__ import annotations

import asyncio

from celery import shared_task

from aiwfe.core.db import create_engine, create_sessionmaker
from aiwfe.core.logging import get_logger
from aiwfe.core.redis import create_redis
from aiwfe.core.settings import Settings, get_settings
from aiwfe.notify.tasks import send_email
from aiwfe.oauth.connected import ConnectedAccounts, RefreshReport
from aiwfe.oauth.service import OAuthDeps

log = get_logger(__name__)
REFRESH_TOKENS = "aiwfe.oauth.refresh_tokens"


async def _refresh(settings: Settings) -> RefreshReport:
    engine, redis = create_engine(settings), create_redis(settings)
    deps = OAuthDeps.build(settings, redis)
    try:
        async with create_sessionmaker(engine)() as db:
            return await ConnectedAccounts(db, deps).refresh_due()
    finally:
        await deps.aclose()
        await redis.aclose()
        await engine.dispose()


@shared_task(name=REFRESH_TOKENS)
def refresh_tokens() -> dict[str, int]:
    """Refresh due tokens; mail each owner whose account the provider no longer accepts."""
    settings = get_settings()
    report = asyncio.run(_refresh(settings))
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
