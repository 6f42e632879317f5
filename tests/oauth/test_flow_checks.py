"""Every check of the authorization code flow, against the real OP: state, browser binding, nonce, PKCE,
code reuse, consent, issuer, audience, and key rotation (an unknown key id refetches the JWKS)."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from redis.asyncio import Redis
from tests.oauth.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    OTHER_CLIENT_ID,
    OTHER_REDIRECT,
    Api,
    OpenIdProvider,
    authorize,
    query,
    sign_in,
    start,
)

from aiwfe.core.crypto import new_token, token_hash
from aiwfe.core.settings import Settings
from aiwfe.oauth.errors import InvalidIdToken
from aiwfe.oauth.flows import KEY as FLOW_KEY
from aiwfe.oauth.idtoken import KeySetCache, verify_id_token


async def _stored_flow(settings: Settings, authorization_url: str) -> dict[str, str]:
    """The pending flow a started sign-in keeps in Redis."""
    redis = Redis.from_url(settings.redis_url.get_secret_value())
    flow: dict[str, str] = json.loads(
        await redis.get(FLOW_KEY + token_hash(query(authorization_url)["state"]))
    )
    await redis.aclose()
    return flow


async def _tamper(settings: Settings, authorization_url: str, **changes: str | None) -> None:
    """Change the stored flow of a started sign-in, as if the values had been different."""
    key = FLOW_KEY + token_hash(query(authorization_url)["state"])
    flow = {**await _stored_flow(settings, authorization_url), **changes}
    redis = Redis.from_url(settings.redis_url.get_secret_value())
    await redis.set(key, json.dumps(flow), keepttl=True)
    await redis.aclose()


def _invalid_state(response: httpx.Response) -> bool:
    return response.status_code == 400 and str(response.json()["type"]).endswith("/invalid-oauth-state")


async def test_an_unknown_state_is_refused(api: Api, browser: httpx.AsyncClient) -> None:
    callback = await authorize(browser, await start(api), "kim")
    forged = callback.replace(query(callback)["state"], "forged-state-value")
    assert _invalid_state(await api.http.get(forged))


async def test_a_callback_replayed_in_another_browser_is_refused(
    api: Api, browser: httpx.AsyncClient
) -> None:
    callback = await authorize(browser, await start(api), "kim")
    api.http.cookies.delete("aiwfe_oauth")
    response = await api.http.get(callback)
    assert _invalid_state(response)
    assert "aiwfe_session" not in api.http.cookies


async def test_a_finished_sign_in_cannot_be_replayed(api: Api, browser: httpx.AsyncClient) -> None:
    callback = await authorize(browser, await start(api), "kim")
    binding = api.http.cookies["aiwfe_oauth"]
    assert (await api.http.get(callback)).status_code == 303
    # The same browser (binding cookie included) replays the callback: the flow is gone, so the used
    # code never reaches the provider a second time.
    replay = await api.http.get(callback, headers={"Cookie": f"aiwfe_oauth={binding}"})
    assert _invalid_state(replay)


async def test_a_reused_code_is_refused_by_the_provider(
    api: Api, browser: httpx.AsyncClient, oauth_settings: Settings
) -> None:
    first = await start(api)
    used = await _stored_flow(oauth_settings, first)
    callback = await authorize(browser, first, "kim")
    assert (await api.http.get(callback)).status_code == 303
    # A second flow identical to the first (same PKCE verifier and nonce) but for its state: only the
    # code having been used already sets it apart.
    second = await start(api)
    await _tamper(oauth_settings, second, code_verifier=used["code_verifier"], nonce=used["nonce"])
    response = await api.http.get(callback.replace(query(first)["state"], query(second)["state"]))
    assert response.status_code == 400
    assert response.json()["type"].endswith("/oauth-provider-refused")
    assert "invalid_grant" in response.json()["detail"]


async def test_a_nonce_mismatch_is_refused(
    api: Api, browser: httpx.AsyncClient, oauth_settings: Settings
) -> None:
    url = await start(api)
    await _tamper(oauth_settings, url, nonce=new_token(24))
    response = await api.http.get(await authorize(browser, url, "kim"))
    assert response.status_code == 401
    assert response.json()["type"].endswith("/invalid-id-token")
    assert "nonce" in response.json()["detail"]


async def test_a_pkce_verifier_mismatch_is_refused_by_the_provider(
    api: Api, browser: httpx.AsyncClient, oauth_settings: Settings
) -> None:
    url = await start(api)
    await _tamper(oauth_settings, url, code_verifier=new_token(48))
    response = await api.http.get(await authorize(browser, url, "kim"))
    assert response.status_code == 400
    assert response.json()["type"].endswith("/oauth-provider-refused")


async def test_the_authorization_request_uses_pkce_s256_state_and_nonce(api: Api) -> None:
    params = query(await start(api))
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43
    assert len(params["state"]) >= 32
    assert params["nonce"]
    assert params["scope"] == "openid email profile"


async def test_an_invalid_code_is_refused(api: Api, browser: httpx.AsyncClient) -> None:
    callback = await authorize(browser, await start(api), "kim")
    response = await api.http.get(callback.replace(query(callback)["code"], "not-a-real-code"))
    assert response.status_code == 400
    assert response.json()["type"].endswith("/oauth-provider-refused")


async def test_denied_consent_is_a_403_problem(api: Api, browser: httpx.AsyncClient) -> None:
    callback = await authorize(browser, await start(api), "kim", deny=True)
    assert query(callback)["error"] == "access_denied"
    response = await api.http.get(callback)
    assert response.status_code == 403
    assert response.json()["type"].endswith("/oauth-denied")


async def test_a_response_naming_another_issuer_is_refused(api: Api, browser: httpx.AsyncClient) -> None:
    callback = await authorize(browser, await start(api), "kim")
    iss = query(callback)["iss"]
    response = await api.http.get(
        callback.replace(f"iss={iss.replace(':', '%3A').replace('/', '%2F')}", "iss=http%3A%2F%2Fevil.test")
    )
    assert response.status_code == 401


async def test_discovery_naming_another_issuer_is_refused(api: Api) -> None:
    response = await api.http.get("/api/v1/auth/oauth/impostor/login")
    assert response.status_code == 502
    assert "names issuer" in response.json()["detail"]


async def test_next_must_be_a_path_on_this_site(api: Api) -> None:
    for target in ("https://evil.test/", "//evil.test/", "/\\evil.test"):
        response = await api.http.get("/api/v1/auth/oauth/op/login", params={"next": target})
        assert response.status_code == 422, target


# ---- ID-token checks with genuine tokens from the OP -------------------------------------------------------


async def _id_token(
    browser: httpx.AsyncClient, issuer: str, client_id: str, secret: str, redirect_uri: str, nonce: str
) -> str:
    """Run the code flow at ``issuer`` as client ``client_id``; returns the ID token it issues."""
    verifier = new_token(48)
    params = {
        "client_id": client_id,
        "response_type": "code",
        "scope": "openid email",
        "redirect_uri": redirect_uri,
        "state": new_token(16),
        "nonce": nonce,
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    url = httpx.URL(f"{issuer}/auth", params=params)
    code = query(await authorize(browser, str(url), "lee"))["code"]
    response = await browser.post(
        f"{issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        auth=(client_id, secret),
    )
    response.raise_for_status()
    token: str = response.json()["id_token"]
    return token


def _keys(op: OpenIdProvider) -> KeySetCache:
    async def fetch() -> object:
        async with httpx.AsyncClient() as http:
            return (await http.get(f"{op.issuer}/jwks")).json()

    return KeySetCache(fetch, ttl=3600)


async def _verify(
    op: OpenIdProvider, token: str, nonce: str, *, at: float | None = None
) -> dict[str, object]:
    return await verify_id_token(
        token,
        keys=_keys(op),
        issuers=[op.issuer],
        client_id=CLIENT_ID,
        nonce=nonce,
        access_token=None,
        algorithms=["RS256"],
        # Real time: the provider (a node process) issued the token on the real clock.
        now=time.time() if at is None else at,
        leeway=60,
    )


async def test_a_genuine_token_passes_every_check(op: OpenIdProvider, browser: httpx.AsyncClient) -> None:
    nonce = new_token(16)
    callback = "http://testserver/api/v1/auth/oauth/op/callback"
    token = await _id_token(browser, op.issuer, CLIENT_ID, CLIENT_SECRET, callback, nonce)
    claims = await _verify(op, token, nonce)
    assert claims["sub"] == "lee"


async def test_a_token_from_another_issuer_is_refused(op: OpenIdProvider, browser: httpx.AsyncClient) -> None:
    nonce = new_token(16)
    callback = "http://testserver/api/v1/auth/oauth/op/callback"
    token = await _id_token(browser, op.other_issuer, CLIENT_ID, CLIENT_SECRET, callback, nonce)
    with pytest.raises(InvalidIdToken, match="iss"):
        await _verify(op, token, nonce)


async def test_a_token_for_another_client_is_refused(op: OpenIdProvider, browser: httpx.AsyncClient) -> None:
    nonce = new_token(16)
    token = await _id_token(browser, op.issuer, OTHER_CLIENT_ID, "other-secret", OTHER_REDIRECT, nonce)
    with pytest.raises(InvalidIdToken, match="aud"):
        await _verify(op, token, nonce)


async def test_an_expired_token_is_refused_beyond_the_clock_skew(
    op: OpenIdProvider, browser: httpx.AsyncClient
) -> None:
    nonce = new_token(16)
    callback = "http://testserver/api/v1/auth/oauth/op/callback"
    token = await _id_token(browser, op.issuer, CLIENT_ID, CLIENT_SECRET, callback, nonce)
    # The OP's ID tokens live 300 s; 60 s of skew are allowed.
    await _verify(op, token, nonce, at=time.time() + 330)
    with pytest.raises(InvalidIdToken, match="exp"):
        await _verify(op, token, nonce, at=time.time() + 420)


async def test_an_unknown_key_id_refetches_the_keys_once(
    api: Api, browser: httpx.AsyncClient, op: OpenIdProvider
) -> None:
    assert (await sign_in(api, browser, "mia")).status_code == 303
    keys = api.app.state.oauth.providers.get("op").keys
    assert keys.fetches == 1
    new_kid = op.rotate_keys()
    api.http.cookies.clear()
    assert (await sign_in(api, browser, "mia")).status_code == 303
    assert keys.fetches == 2
    assert new_kid in {key.kid for key in (await keys.get()).keys}
