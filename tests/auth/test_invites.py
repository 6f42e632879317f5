"""Registration mode ``invite``: an administrator's single-use, address-bound invitation."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from httpx import ASGITransport, AsyncClient
from tests.auth.conftest import PASSWORD, bearer, link_token, login_token, make_admin, wait_for_mail
from tests.processes import RunningProcess

from aiwfe.api.app import create_app
from aiwfe.core.settings import RegistrationMode, Settings
from aiwfe_stack.servers.smtp_sink import SmtpSink


@pytest.fixture
async def invite_only(settings: Settings) -> AsyncIterator[AsyncClient]:
    app = create_app(Settings(**{**settings.model_dump(), "registration_mode": RegistrationMode.INVITE}))
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as http,
    ):
        yield http


async def _admin_token(http: AsyncClient, settings: Settings) -> str:
    """Invite mode refuses sign-ups, so the administrator is made the way `aiwfe create-admin` does."""
    from aiwfe.auth.audit import ClientInfo
    from aiwfe.auth.service import AuthService

    app_state = http._transport.app.state  # type: ignore[attr-defined]
    async with app_state.sessionmaker() as db:
        await AuthService(db, app_state.auth, ClientInfo(None, "test")).create_admin(
            "chief@example.com", PASSWORD
        )
    await make_admin(settings, "chief@example.com")
    return await login_token(http, "chief@example.com")


async def test_invite_mode_refuses_sign_up_without_an_invitation(invite_only: AsyncClient) -> None:
    response = await invite_only.post(
        "/api/v1/auth/register", json={"email": "new@example.com", "password": PASSWORD}
    )
    assert response.status_code == 403
    assert response.json()["field"] == "invite_token"


async def test_an_invitation_registers_its_address_once_and_verifies_it(
    invite_only: AsyncClient, settings: Settings, worker: RunningProcess, smtp_sink: SmtpSink
) -> None:
    admin = await _admin_token(invite_only, settings)
    created = await invite_only.post(
        "/api/v1/admin/invites", json={"email": "guest@example.com"}, headers=bearer(admin)
    )
    assert created.status_code == 201
    token = link_token(wait_for_mail(smtp_sink, "guest@example.com", "You are invited to aiwfe"))

    other = await invite_only.post(
        "/api/v1/auth/register",
        json={"email": "intruder@example.com", "password": PASSWORD, "invite_token": token},
    )
    assert other.status_code == 400
    assert "another email" in other.json()["detail"]

    ok = await invite_only.post(
        "/api/v1/auth/register",
        json={"email": "guest@example.com", "password": PASSWORD, "invite_token": token},
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["email_verified"] is True

    again = await invite_only.post(
        "/api/v1/auth/register",
        json={"email": "guest@example.com", "password": PASSWORD, "invite_token": token},
    )
    assert again.status_code in (400, 409)


async def test_a_revoked_invitation_stops_working_and_only_admins_invite(
    invite_only: AsyncClient, settings: Settings, worker: RunningProcess, smtp_sink: SmtpSink
) -> None:
    admin = await _admin_token(invite_only, settings)
    created = (
        await invite_only.post(
            "/api/v1/admin/invites", json={"email": "late@example.com"}, headers=bearer(admin)
        )
    ).json()
    token = link_token(wait_for_mail(smtp_sink, "late@example.com", "You are invited to aiwfe"))
    revoke = await invite_only.delete(f"/api/v1/admin/invites/{created['id']}", headers=bearer(admin))
    assert revoke.status_code == 204
    refused = await invite_only.post(
        "/api/v1/auth/register",
        json={"email": "late@example.com", "password": PASSWORD, "invite_token": token},
    )
    assert refused.status_code == 400
    listed = (await invite_only.get("/api/v1/admin/invites", headers=bearer(admin))).json()
    assert listed[0]["revoked_at"] is not None
