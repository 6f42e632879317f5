"""Sign-in and sign-up through a real OpenID Provider, and the linking rules that keep accounts safe."""

from __future__ import annotations

import httpx
from tests.auth.conftest import PASSWORD, register
from tests.oauth.conftest import (
    Api,
    OpenIdProvider,
    audit_events,
    running_app,
    sign_in,
    sql,
    with_providers,
)

from aiwfe.core.settings import RegistrationMode, Settings


async def test_providers_lists_the_enabled_ones(api: Api) -> None:
    response = await api.http.get("/api/v1/auth/providers")
    assert response.status_code == 200
    names = {p["name"]: p for p in response.json()}
    assert set(names) == {"op", "gh", "impostor", "down"}
    assert names["op"]["display_name"] == "Test OP"
    assert names["op"]["login_url"] == "/api/v1/auth/oauth/op/login"


async def test_sign_in_signs_up_a_new_user_with_the_verified_email(
    api: Api, browser: httpx.AsyncClient, oauth_settings: Settings
) -> None:
    response = await sign_in(api, browser, "alice", next_path="/calendar")
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "http://testserver/calendar"
    me = await api.http.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["email"] == "alice@op.example.com"
    assert me.json()["email_verified"] is True
    accounts = (await api.http.get("/api/v1/me/oauth/accounts")).json()
    assert [(a["provider"], a["connected"], a["status"]) for a in accounts] == [("op", False, "active")]
    assert [e[0] for e in await audit_events(oauth_settings, "oauth_login")] == ["ok"]


async def test_signing_in_again_finds_the_same_account(api: Api, browser: httpx.AsyncClient) -> None:
    await sign_in(api, browser, "bob")
    first = (await api.http.get("/api/v1/me")).json()["id"]
    api.http.cookies.clear()
    response = await sign_in(api, browser, "bob")
    assert response.status_code == 303
    assert (await api.http.get("/api/v1/me")).json()["id"] == first


async def test_a_verified_email_links_to_a_verified_local_account(
    api: Api, browser: httpx.AsyncClient, oauth_settings: Settings
) -> None:
    user = await register(api.http, "carol@op.example.com")
    await sql(oauth_settings, "UPDATE users SET email_verified_at = now() WHERE id = :id", id=user["id"])
    response = await sign_in(api, browser, "carol")
    assert response.status_code == 303, response.text
    assert (await api.http.get("/api/v1/me")).json()["id"] == user["id"]
    details = [e[1] for e in await audit_events(oauth_settings, "oauth_link")]
    assert details == [{"provider": "op", "via": "verified_email"}]


async def test_link_by_email_is_refused_while_the_local_email_is_unverified(
    api: Api, browser: httpx.AsyncClient, oauth_settings: Settings
) -> None:
    await register(api.http, "dave@op.example.com")
    response = await sign_in(api, browser, "dave")
    assert response.status_code == 409
    assert response.json()["type"].endswith("/oauth-sign-in-first")
    assert "aiwfe_session" not in api.http.cookies
    assert await sql(oauth_settings, "SELECT count(*) FROM oauth_accounts") == [(0,)]
    assert [(e[0], e[1]["reason"]) for e in await audit_events(oauth_settings, "oauth_login")] == [
        ("failed", "oauth-sign-in-first")
    ]


async def test_link_by_email_is_refused_when_the_provider_email_is_unverified(
    api: Api, browser: httpx.AsyncClient, oauth_settings: Settings
) -> None:
    user = await register(api.http, "unverified-erin@op.example.com")
    await sql(oauth_settings, "UPDATE users SET email_verified_at = now() WHERE id = :id", id=user["id"])
    response = await sign_in(api, browser, "unverified-erin@op.example.com")
    assert response.status_code == 409
    assert await sql(oauth_settings, "SELECT count(*) FROM oauth_accounts") == [(0,)]


async def test_sign_up_needs_a_verified_email(api: Api, browser: httpx.AsyncClient) -> None:
    response = await sign_in(api, browser, "unverified-frank")
    assert response.status_code == 403
    assert response.json()["type"].endswith("/oauth-sign-up-refused")


async def test_sign_up_respects_the_registration_mode(
    settings: Settings, op: OpenIdProvider, browser: httpx.AsyncClient
) -> None:
    closed = with_providers(settings, op, registration_mode=RegistrationMode.CLOSED)
    async with running_app(closed) as app:
        response = await sign_in(app, browser, "grace")
    assert response.status_code == 403
    assert response.json()["type"].endswith("/registration-closed")


async def test_a_user_with_totp_gets_the_second_factor_step(
    api: Api, browser: httpx.AsyncClient, oauth_settings: Settings
) -> None:
    await sign_in(api, browser, "heidi")
    await sql(oauth_settings, "UPDATE users SET totp_enabled_at = now(), totp_secret_encrypted = 'x'")
    api.http.cookies.clear()
    response = await sign_in(api, browser, "heidi")
    assert response.status_code == 303
    assert response.headers["location"].startswith("http://testserver/login#mfa_token=")
    assert "aiwfe_session" not in api.http.cookies


async def test_password_users_can_still_sign_in_with_a_password(api: Api, browser: httpx.AsyncClient) -> None:
    await register(api.http, "ivan@example.com")
    response = await api.http.post(
        "/api/v1/auth/login", json={"email": "ivan@example.com", "password": PASSWORD, "mode": "token"}
    )
    assert response.status_code == 200
