"""GitHub-style plain OAuth 2 (no ID token; identity from the user and emails API; grant deletion on unlink)
against the test server's GitHub-like endpoints."""

from __future__ import annotations

import httpx
from tests.oauth.conftest import (
    Api,
    OpenIdProvider,
    link,
    password_session,
    query,
    sign_in,
    sql,
    start,
)

from aiwfe.core.crypto import decrypt
from aiwfe.core.settings import Settings


async def test_github_sign_in_uses_the_user_and_emails_api(api: Api, browser: httpx.AsyncClient) -> None:
    params = query(await start(api, "gh"))
    assert "nonce" not in params
    assert params["code_challenge_method"] == "S256"
    assert params["scope"] == "read:user user:email"
    response = await sign_in(api, browser, "victor", provider="gh")
    assert response.status_code == 303, response.text
    me = (await api.http.get("/api/v1/me")).json()
    assert me["email"] == "victor@op.example.com"
    (account,) = (await api.http.get("/api/v1/me/oauth/accounts")).json()
    assert account["provider"] == "gh"
    assert account["email_verified"] is True


async def test_github_without_a_verified_email_cannot_sign_up(api: Api, browser: httpx.AsyncClient) -> None:
    response = await sign_in(api, browser, "unverified-walt", provider="gh")
    assert response.status_code == 403
    assert response.json()["type"].endswith("/oauth-sign-up-refused")


async def test_unlinking_github_deletes_the_grant(
    api: Api, browser: httpx.AsyncClient, oauth_settings: Settings, op: OpenIdProvider
) -> None:
    await password_session(api, "xena@example.com")
    assert (await link(api, browser, "xena-at-gh", provider="gh")).status_code == 303
    ((stored,),) = await sql(oauth_settings, "SELECT access_token_encrypted FROM oauth_accounts")
    user_api = {"Authorization": f"Bearer {decrypt(oauth_settings, str(stored))}"}
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{op.issuer}/api/user", headers=user_api)).status_code == 200
        (account,) = (await api.http.get("/api/v1/me/oauth/accounts")).json()
        csrf = {"X-CSRF-Token": api.http.cookies.get("aiwfe_csrf") or ""}
        response = await api.http.delete(f"/api/v1/me/oauth/accounts/{account['id']}", headers=csrf)
        assert response.json() == {"revoked_at_provider": True}
        assert (await http.get(f"{op.issuer}/api/user", headers=user_api)).status_code == 401
