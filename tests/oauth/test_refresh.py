"""Connected accounts' tokens: refreshed by the real worker with the OP's refresh tokens (its access tokens
live 60 s, inside the refresh-ahead window, so every linked account is due at once); a refresh token the
provider refuses marks the account ``needs_reconnect``, is audited, mails the owner and stops its refreshes;
beat schedules the task.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import httpx
import pytest
from celery import Celery
from pydantic import SecretStr
from tests.auth.conftest import wait_for_mail
from tests.oauth.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    Api,
    OpenIdProvider,
    audit_events,
    broker_url,
    link,
    password_session,
    sql,
)
from tests.processes import RunningProcess

from aiwfe.core.crypto import decrypt
from aiwfe.core.settings import Settings
from aiwfe.oauth.connected import ConnectedAccounts
from aiwfe.oauth.errors import ReconnectNeeded
from aiwfe.oauth.tasks import REFRESH_TOKENS
from aiwfe.worker.app import create_celery
from aiwfe_stack.servers.smtp_sink import SmtpSink


def _celery(settings: Settings) -> Celery:
    """A client of the oauth worker's queue (results come back through the shared Redis)."""
    return create_celery(settings.model_copy(update={"broker_url": SecretStr(broker_url(settings))}))


async def _run_refresh(settings: Settings) -> dict[str, int]:
    """Have the worker run the beat task once; returns its counts."""
    result = _celery(settings).send_task(REFRESH_TOKENS)
    counts: dict[str, int] = await asyncio.to_thread(result.get, timeout=60)
    return counts


async def _stored(settings: Settings) -> tuple[uuid.UUID, str, str, datetime, str]:
    """The one connected account: id, access and refresh token (decrypted), expiry, status."""
    ((account_id, access, refresh, expires_at, status),) = await sql(
        settings,
        "SELECT id, access_token_encrypted, refresh_token_encrypted, token_expires_at, status "
        "FROM oauth_accounts",
    )
    assert isinstance(account_id, uuid.UUID)
    assert isinstance(expires_at, datetime)
    return (
        account_id,
        decrypt(settings, str(access)),
        decrypt(settings, str(refresh)),
        expires_at,
        str(status),
    )


async def _userinfo(op: OpenIdProvider, access_token: str) -> int:
    """The OP's verdict on an access token: its userinfo endpoint's status."""
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{op.issuer}/me", headers={"Authorization": f"Bearer {access_token}"})
    return response.status_code


async def _linked(api: Api, browser: httpx.AsyncClient, email: str, login: str) -> None:
    await password_session(api, email)
    assert (await link(api, browser, login)).status_code == 303


@pytest.fixture
def worker_settings(oauth_settings: Settings, oauth_worker: RunningProcess) -> Settings:
    """The test settings, once the oauth worker runs."""
    return oauth_settings


async def test_the_worker_refreshes_due_tokens_with_the_providers_refresh_token(
    api: Api, browser: httpx.AsyncClient, worker_settings: Settings, op: OpenIdProvider
) -> None:
    await _linked(api, browser, "ruth@example.com", "ruth-at-op")
    _, access, _, expires_at, _ = await _stored(worker_settings)

    assert await _run_refresh(worker_settings) == {"refreshed": 1, "failed": 0, "reconnect": 0}
    _, renewed, _, renewed_expiry, status = await _stored(worker_settings)
    assert renewed != access
    assert await _userinfo(op, renewed) == 200
    assert renewed_expiry > expires_at
    assert status == "active"

    # Whatever refresh token the provider answered with (rotated or kept) is what was stored: it works again.
    assert await _run_refresh(worker_settings) == {"refreshed": 1, "failed": 0, "reconnect": 0}
    _, third, _, _, _ = await _stored(worker_settings)
    assert third not in {access, renewed}
    assert await _userinfo(op, third) == 200


async def test_a_deactivated_users_tokens_are_not_refreshed(
    api: Api, browser: httpx.AsyncClient, worker_settings: Settings
) -> None:
    await _linked(api, browser, "vera@example.com", "vera-at-op")
    _, access, _, _, _ = await _stored(worker_settings)
    await sql(worker_settings, "UPDATE users SET is_active = false WHERE email = 'vera@example.com'")
    assert await _run_refresh(worker_settings) == {"refreshed": 0, "failed": 0, "reconnect": 0}
    assert (await _stored(worker_settings))[1] == access


async def test_a_refused_refresh_token_needs_reconnecting(
    api: Api,
    browser: httpx.AsyncClient,
    worker_settings: Settings,
    op: OpenIdProvider,
    smtp_sink: SmtpSink,
) -> None:
    await _linked(api, browser, "saul@example.com", "saul-at-op")
    account_id, _, refresh, _, _ = await _stored(worker_settings)
    async with httpx.AsyncClient() as http:
        revoked = await http.post(
            f"{op.issuer}/token/revocation",
            data={"token": refresh, "token_type_hint": "refresh_token"},
            auth=(CLIENT_ID, CLIENT_SECRET),
        )
    assert revoked.status_code == 200

    assert await _run_refresh(worker_settings) == {"refreshed": 0, "failed": 0, "reconnect": 1}
    assert (await _stored(worker_settings))[4] == "needs_reconnect"
    (account,) = (await api.http.get("/api/v1/me/oauth/accounts")).json()
    assert account["status"] == "needs_reconnect"
    assert await audit_events(worker_settings, "oauth_reconnect_needed") == [
        ("failed", {"provider": "op", "account": str(account_id)})
    ]
    mail = await asyncio.to_thread(
        wait_for_mail, smtp_sink, "saul@example.com", "Reconnect your Test OP account"
    )
    assert "link Test OP again" in mail.get_content()

    # Its refreshes stop, and what syncs through it is told to have the user link again.
    assert await _run_refresh(worker_settings) == {"refreshed": 0, "failed": 0, "reconnect": 0}
    async with api.app.state.sessionmaker() as db:
        with pytest.raises(ReconnectNeeded):
            await ConnectedAccounts(db, api.app.state.oauth).access_token(account_id)


async def test_linking_again_reconnects_the_account(
    api: Api, browser: httpx.AsyncClient, oauth_settings: Settings
) -> None:
    await _linked(api, browser, "tess@example.com", "tess-at-op")
    await sql(oauth_settings, "UPDATE oauth_accounts SET status = 'needs_reconnect'")
    assert (await link(api, browser, "tess-at-op")).status_code == 303
    (account,) = (await api.http.get("/api/v1/me/oauth/accounts")).json()
    assert account["status"] == "active"
    assert [outcome for outcome, _ in await audit_events(oauth_settings, "oauth_reconnected")] == ["ok"]


async def test_a_sync_gets_a_fresh_token_when_the_stored_one_is_about_to_expire(
    api: Api, browser: httpx.AsyncClient, oauth_settings: Settings, op: OpenIdProvider
) -> None:
    await _linked(api, browser, "uri@example.com", "uri-at-op")
    account_id, access, _, expires_at, _ = await _stored(oauth_settings)
    async with api.app.state.sessionmaker() as db:
        token = await ConnectedAccounts(db, api.app.state.oauth).access_token(account_id)
    assert token != access  # 60 s left is "about to expire": refreshed first
    assert await _userinfo(op, token) == 200
    _, stored, _, renewed_expiry, _ = await _stored(oauth_settings)
    assert stored == token
    assert renewed_expiry > expires_at


def test_beat_schedules_the_refresh(settings: Settings) -> None:
    app = create_celery(settings.model_copy(update={"oauth_refresh_every_seconds": 45.0}))
    (entry,) = [e for e in app.conf.beat_schedule.values() if e["task"] == REFRESH_TOKENS]
    assert entry["schedule"] == 45.0
    app.loader.import_default_modules()
    assert REFRESH_TOKENS in app.tasks
