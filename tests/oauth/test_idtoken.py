"""ID-token verification offline, with keys of our own: only asymmetric signatures from published keys pass,
an unknown key id refetches the key set once, and Microsoft's tenant-templated issuer is matched per token.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from aiwfe.oauth.errors import InvalidIdToken
from aiwfe.oauth.idtoken import KeySetCache, verify_id_token

ISSUER = "https://op.example.com"
CLIENT = "aiwfe"
NONCE = "n-0S6_WzA2Mj"


def _key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"})


class Published:
    """The provider's JWKS endpoint: which public keys it publishes, and how often it was asked."""

    def __init__(self, *keys: RSAKey) -> None:
        self.keys = list(keys)

    async def fetch(self) -> dict[str, Any]:
        return {"keys": [key.as_dict(private=False) for key in self.keys]}


def _claims(**changes: object) -> dict[str, object]:
    now = int(time.time())  # relative: the verification below reads the same real clock
    claims: dict[str, object] = {
        "iss": ISSUER,
        "sub": "user-1",
        "aud": CLIENT,
        "iat": now,
        "exp": now + 300,
        "nonce": NONCE,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(key: RSAKey | OctKey, claims: dict[str, object], alg: str = "RS256") -> str:
    header: dict[str, object] = {"alg": alg}
    if isinstance(key, RSAKey):
        header["kid"] = key.kid
    return jwt.encode(header, claims, key, algorithms=[alg])


async def _verify(token: str, keys: KeySetCache, issuers: list[str] | None = None) -> dict[str, Any]:
    return await verify_id_token(
        token,
        keys=keys,
        issuers=issuers or [ISSUER],
        client_id=CLIENT,
        nonce=NONCE,
        access_token=None,
        algorithms=["RS256", "HS256"],  # the provider's list is filtered: HMAC is never accepted
        now=time.time(),  # the claims above were issued on this real clock
        leeway=60,
    )


async def test_a_token_signed_with_a_published_key_passes() -> None:
    key = _key("k1")
    claims = await _verify(_sign(key, _claims()), KeySetCache(Published(key).fetch, ttl=3600))
    assert claims["sub"] == "user-1"


async def test_an_hmac_token_keyed_with_the_client_secret_is_refused() -> None:
    keys = KeySetCache(Published(_key("k1")).fetch, ttl=3600)
    forged = _sign(OctKey.import_key("aiwfe-test-client-secret-32-bytes!"), _claims(), alg="HS256")
    with pytest.raises(InvalidIdToken):
        await _verify(forged, keys)


async def test_a_token_signed_by_a_key_the_provider_does_not_publish_is_refused() -> None:
    published = Published(_key("k1"))
    keys = KeySetCache(published.fetch, ttl=3600)
    await keys.get()
    with pytest.raises(InvalidIdToken, match="does not publish"):
        await _verify(_sign(_key("attacker"), _claims()), keys)
    assert keys.fetches == 2  # one refetch for the unknown key id, no more


async def test_a_rotated_key_is_picked_up_by_refetching_on_its_key_id() -> None:
    old, new = _key("old"), _key("new")
    published = Published(old)
    keys = KeySetCache(published.fetch, ttl=3600)
    await _verify(_sign(old, _claims()), keys)
    published.keys.insert(0, new)
    assert (await _verify(_sign(new, _claims()), keys))["sub"] == "user-1"
    assert keys.fetches == 2


async def test_a_token_forged_with_the_right_key_id_but_another_key_is_refused() -> None:
    keys = KeySetCache(Published(_key("k1")).fetch, ttl=3600)
    with pytest.raises(InvalidIdToken, match="signature"):
        await _verify(_sign(_key("k1"), _claims()), keys)


@pytest.mark.parametrize(
    ("changes", "claim"),
    [
        ({"nonce": "another-nonce"}, "nonce"),
        ({"nonce": None}, "nonce"),
        ({"aud": "another-client"}, "aud"),
        ({"iss": "https://evil.example.com"}, "iss"),
        ({"exp": int(time.time()) - 120}, "exp"),  # past the 60 s leeway of the real clock
    ],
)
async def test_each_claim_is_checked(changes: dict[str, object], claim: str) -> None:
    key = _key("k1")
    with pytest.raises(InvalidIdToken, match=claim):
        await _verify(_sign(key, _claims(**changes)), KeySetCache(Published(key).fetch, ttl=3600))


async def test_a_tenant_templated_issuer_is_matched_with_the_tokens_own_tenant() -> None:
    key = _key("k1")
    keys = KeySetCache(Published(key).fetch, ttl=3600)
    template = "https://login.microsoftonline.com/{tenantid}/v2.0"
    tenant = "9188040d-6c67-4c5b-b112-36a304b66dad"
    own = _claims(iss=f"https://login.microsoftonline.com/{tenant}/v2.0", tid=tenant)
    assert (await _verify(_sign(key, own), keys, [template]))["tid"] == tenant
    foreign = _claims(iss="https://login.microsoftonline.com/another-tenant/v2.0", tid=tenant)
    with pytest.raises(InvalidIdToken, match="iss"):
        await _verify(_sign(key, foreign), keys, [template])
