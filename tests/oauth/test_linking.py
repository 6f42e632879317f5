"""Linking a provider to the signed-in account, connected-account tokens at rest, and unlinking."""

from __future__ import annotations

import httpx
from tests.oauth.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    Api,
    OpenIdProvider,
    audit_events,
    link,
    password_session,
    sign_in,
    sql,
)

from aiwfe.core.crypto import decrypt
from aiwfe.core.settings import Settings


async def test_linking_connects_the_provider_account_with_encrypted_tokens(
    api: Api, browser: httpx.AsyncClient, oauth_settings: Settings
) -> None:
    await password_session(api, "nina@example.com")
    response = await link(api, browser, "nina-at-op")
    assert response.status_code == 303, response.text
    (account,) = (await api.http.get("/api/v1/me/oauth/accounts")).json()
    assert account["provider"] == "op"
    assert account["connected"] is True
    assert account["status"] == "active"
    assert "offline_access" in account["scopes"]
    assert account["token_expires_at"] is not None
    ((access, refresh),) = await sql(
        oauth_settings, "SELECT access_token_encrypted, refresh_token_encrypted FROM oauth_accounts"
    )
    assert isinstance(access, str)
    assert isinstance(refresh, str)
    assert decrypt(oauth_settings, refresh) != refresh  # stored encrypted, opens with the key
    assert [e[1]["provider"] for e in await audit_events(oauth_settings, "oauth_link")] == ["op"]


async def test_the_linked_identity_then_signs_in_to_the_same_account(
    api: Api, browser: httpx.AsyncClient
) -> None:
    await password_session(api, "olga@example.com")
    await link(api, browser, "olga-at-op")
    me = (await api.http.get("/api/v1/me")).json()["id"]
    api.http.cookies.clear()
    assert (await sign_in(api, browser, "olga-at-op")).status_code == 303
    assert (await api.http.get("/api/v1/me")).json()["id"] == me


async def test_an_identity_linked_to_someone_else_cannot_be_linked_again(
    api: Api, browser: httpx.AsyncClient
) -> None:
    await sign_in(api, browser, "pat")  # signs up pat@op.example.com with the identity "pat"
    api.http.cookies.clear()
    await password_session(api, "quinn@example.com")
    response = await link(api, browser, "pat")
    assert response.status_code == 409
    assert response.json()["type"].endswith("/oauth-identity-taken")


async def test_linking_needs_a_signed_in_session(api: Api) -> None:
    response = await api.http.post("/api/v1/me/oauth/op/link")
    assert response.status_code == 401


async def test_unlinking_the_only_way_to_sign_in_is_refused(
    api: Api, browser: httpx.AsyncClient, oauth_settings: Settings
) -> None:
    await sign_in(api, browser, "rita")
    (account,) = (await api.http.get("/api/v1/me/oauth/accounts")).json()
    csrf = {"X-CSRF-Token": api.http.cookies.get("aiwfe_csrf") or ""}
    response = await api.http.delete(f"/api/v1/me/oauth/accounts/{account['id']}", headers=csrf)
    assert response.status_code == 409
    assert response.json()["type"].endswith("/last-sign-in-method")
    assert await sql(oauth_settings, "SELECT count(*) FROM oauth_accounts") == [(1,)]


async def test_unlinking_revokes_the_tokens_at_the_provider(
    api: Api, browser: httpx.AsyncClient, oauth_settings: Settings, op: OpenIdProvider
) -> None:
    await password_session(api, "sam@example.com")
    await link(api, browser, "sam-at-op")
    ((refresh,),) = await sql(oauth_settings, "SELECT refresh_token_encrypted FROM oauth_accounts")
    refresh_token = decrypt(oauth_settings, str(refresh))
    (account,) = (await api.http.get("/api/v1/me/oauth/accounts")).json()
    csrf = {"X-CSRF-Token": api.http.cookies.get("aiwfe_csrf") or ""}
    response = await api.http.delete(f"/api/v1/me/oauth/accounts/{account['id']}", headers=csrf)
    assert response.status_code == 200, response.text
    assert response.json() == {"revoked_at_provider": True}
    assert (await api.http.get("/api/v1/me/oauth/accounts")).json() == []
    async with httpx.AsyncClient() as http:
        refused = await http.post(
            f"{op.issuer}/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            auth=(CLIENT_ID, CLIENT_SECRET),
        )
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    assert [e[1]["revoked"] for e in await audit_events(oauth_settings, "oauth_unlink")] == [True]


async def test_unlinking_someone_elses_account_is_not_found(api: Api, browser: httpx.AsyncClient) -> None:
    await sign_in(api, browser, "tom")
    (account,) = (await api.http.get("/api/v1/me/oauth/accounts")).json()
    api.http.cookies.clear()
    await password_session(api, "uma@example.com")
    csrf = {"X-CSRF-Token": api.http.cookies.get("aiwfe_csrf") or ""}
    response = await api.http.delete(f"/api/v1/me/oauth/accounts/{account['id']}", headers=csrf)
    assert response.status_code == 404


async def test_a_session_signed_in_through_a_provider_must_confirm_a_password_before_linking(
    api: Api, browser: httpx.AsyncClient, oauth_settings: Settings
) -> None:
    await sign_in(api, browser, "ravi")  # signs up ravi@op.example.com: the address is verified
    csrf = {"X-CSRF-Token": api.http.cookies.get("aiwfe_csrf") or ""}
    response = await api.http.post("/api/v1/me/oauth/op/link", headers=csrf)
    assert response.status_code == 403
    assert response.json()["type"].endswith("/reauth-required")
    # The identity it signed up with is the account's origin, not a link a reset would remove.
    assert await sql(oauth_settings, "SELECT linked_unverified FROM oauth_accounts") == [(False,)]
