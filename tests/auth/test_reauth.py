"""Re-authentication before lasting changes, password checks under the sign-in lockout, access-token
expiry by default, and ``__Host-`` cookies on https."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from httpx import AsyncClient
from tests.auth.conftest import PASSWORD, Api, bearer, login_token, mark_verified, register
from tests.conftest import app_client

from aiwfe.core.settings import Settings


async def _verified_session(api: Api, email: str) -> str:
    await register(api.http, email)
    await mark_verified(api, email)
    return await login_token(api.http, email)


def _stale(api: Api, settings: Settings) -> None:
    api.clock.advance(settings.reauth_minutes * 60 + 1)


async def test_a_token_needs_a_password_check_within_the_last_minutes(api: Api, settings: Settings) -> None:
    session = await _verified_session(api, "re1@example.com")
    fresh = await api.http.post(
        "/api/v1/me/tokens", json={"name": "now", "scopes": ["read"]}, headers=bearer(session)
    )
    assert fresh.status_code == 201  # signing in with the password counts
    _stale(api, settings)
    stale = await api.http.post(
        "/api/v1/me/tokens", json={"name": "later", "scopes": ["read"]}, headers=bearer(session)
    )
    assert stale.status_code == 403
    assert stale.json()["type"].endswith("/reauth-required")
    wrong = await api.http.post(
        "/api/v1/me/reauth", json={"password": "not it at all 1"}, headers=bearer(session)
    )
    assert wrong.status_code == 401
    again = await api.http.post("/api/v1/me/reauth", json={"password": PASSWORD}, headers=bearer(session))
    assert again.status_code == 200, again.text
    until = datetime.fromisoformat(again.json()["reauth_until"])
    expected = datetime.fromtimestamp(api.clock(), UTC) + timedelta(minutes=settings.reauth_minutes)
    assert abs((until - expected).total_seconds()) < 5
    later = await api.http.post(
        "/api/v1/me/tokens", json={"name": "later", "scopes": ["read"]}, headers=bearer(session)
    )
    assert later.status_code == 201, later.text


async def test_totp_enrolment_webhooks_and_links_need_a_recent_check_and_a_code_counts(
    api: Api, settings: Settings
) -> None:
    session = await _verified_session(api, "re2@example.com")
    _stale(api, settings)
    assert (await api.http.post("/api/v1/me/totp/setup", headers=bearer(session))).status_code == 403
    hook = await api.http.post(
        "/api/v1/reminders/webhook", json={"url": "https://93.184.215.14/hook"}, headers=bearer(session)
    )
    assert hook.status_code == 403
    assert hook.json()["type"].endswith("/reauth-required")
    link = await api.http.post("/api/v1/me/oauth/github/link", headers=bearer(session))
    assert link.json()["type"].endswith("/reauth-required")

    assert (
        await api.http.post("/api/v1/me/reauth", json={"password": PASSWORD}, headers=bearer(session))
    ).status_code == 200
    setup = await api.http.post("/api/v1/me/totp/setup", headers=bearer(session))
    assert setup.status_code == 200
    secret = setup.json()["secret"]
    code = pyotp.TOTP(secret).at(api.clock())
    confirm = await api.http.post("/api/v1/me/totp/confirm", json={"code": code}, headers=bearer(session))
    assert confirm.status_code == 200

    _stale(api, settings)
    by_code = await api.http.post(
        "/api/v1/me/reauth", json={"code": pyotp.TOTP(secret).at(api.clock())}, headers=bearer(session)
    )
    assert by_code.status_code == 200, by_code.text
    hook = await api.http.post(
        "/api/v1/reminders/webhook", json={"url": "https://93.184.215.14/hook"}, headers=bearer(session)
    )
    assert hook.status_code == 200, hook.text


async def test_access_tokens_cannot_reauthenticate_or_mint_tokens(api: Api) -> None:
    session = await _verified_session(api, "re3@example.com")
    pat = (
        await api.http.post(
            "/api/v1/me/tokens", json={"name": "w", "scopes": ["read", "write"]}, headers=bearer(session)
        )
    ).json()["token"]
    reauth = await api.http.post("/api/v1/me/reauth", json={"password": PASSWORD}, headers=bearer(pat))
    assert reauth.status_code == 403
    minted = await api.http.post(
        "/api/v1/me/tokens", json={"name": "x", "scopes": ["read"]}, headers=bearer(pat)
    )
    assert minted.status_code == 403


async def test_a_token_expires_after_the_default_days_when_no_expiry_is_given(
    api: Api, settings: Settings
) -> None:
    session = await _verified_session(api, "re4@example.com")
    created = await api.http.post(
        "/api/v1/me/tokens", json={"name": "n", "scopes": ["read"]}, headers=bearer(session)
    )
    expires = datetime.fromisoformat(created.json()["expires_at"])
    expected = datetime.fromtimestamp(api.clock(), UTC) + timedelta(days=settings.access_token_default_days)
    assert abs((expires - expected).total_seconds()) < 60
    pat = created.json()["token"]
    assert (await api.http.get("/api/v1/me", headers=bearer(pat))).status_code == 200
    api.clock.advance(settings.access_token_default_days * 86400 + 1)
    assert (await api.http.get("/api/v1/me", headers=bearer(pat))).status_code == 401


@pytest.mark.parametrize("route", ["password", "totp"])
async def test_password_checks_on_account_pages_lock_like_sign_in(
    api: Api, settings: Settings, route: str
) -> None:
    email = f"lock-{route}@example.com"
    session = await _verified_session(api, email)
    secret = ""
    if route == "totp":
        secret = (await api.http.post("/api/v1/me/totp/setup", headers=bearer(session))).json()["secret"]
        code = pyotp.TOTP(secret).at(api.clock())
        await api.http.post("/api/v1/me/totp/confirm", json={"code": code}, headers=bearer(session))

    async def attempt(password: str) -> int:
        if route == "password":
            body = {"current_password": password, "new_password": "a brand new passphrase 8"}
            response = await api.http.post("/api/v1/me/password", json=body, headers=bearer(session))
        else:
            body = {"password": password, "code": "000000"}
            response = await api.http.post("/api/v1/me/totp/disable", json=body, headers=bearer(session))
        return response.status_code

    for _ in range(settings.lockout_threshold):
        assert await attempt("wrong guess number 1") == 401
    # Locked now: even the right password is refused until the lock ends, as at sign-in.
    assert await attempt(PASSWORD) == 429
    login = await api.http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 429


@pytest.fixture
async def https_api(settings: Settings) -> AsyncIterator[AsyncClient]:
    async with app_client(settings, "https://testserver") as http:
        yield http


async def test_https_cookies_are_host_prefixed_and_work(https_api: AsyncClient) -> None:
    await register(https_api, "host@example.com")
    response = await https_api.post(
        "/api/v1/auth/login", json={"email": "host@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("__Host-aiwfe_session="))
    csrf = next(c for c in cookies if c.startswith("__Host-aiwfe_csrf="))
    for cookie in (session, csrf):
        assert "Secure" in cookie
        assert "Path=/" in cookie
        assert "Domain" not in cookie
    assert not [c for c in cookies if c.startswith("aiwfe_")]
    me = await https_api.get("/api/v1/me")
    assert me.status_code == 200
    token = https_api.cookies["__Host-aiwfe_csrf"]
    write = await https_api.patch("/api/v1/me", json={"display_name": "H"}, headers={"X-CSRF-Token": token})
    assert write.status_code == 200, write.text
    # A cookie without the prefix (what a sibling subdomain could plant) is not a session on https.
    plain = https_api.cookies["__Host-aiwfe_session"]
    https_api.cookies.clear()
    https_api.cookies.set("aiwfe_session", plain)
    assert (await https_api.get("/api/v1/me")).status_code == 401
