"""ID-token verification: the signature against the provider's JWKS (cached; refetched when a token names a
key id it does not hold, as after a key rotation), then issuer, audience, nonce and times with a small skew.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from aiwfe.oauth.errors import InvalidIdToken, ProviderMisconfigured

# Asymmetric algorithms only: "none" and HMAC (keyed with the client secret) are never accepted.
ALLOWED_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)


class KeySetCache:
    """One provider's signing keys: fetched on first use, kept ``ttl`` seconds, refetched on demand.

    A refetch on an unknown key id needs no rate limit: ID tokens reach us from the provider's token
    endpoint over TLS, never from the user, so nobody can make us refetch at will.
    """

    def __init__(
        self, fetch: Callable[[], Awaitable[Any]], ttl: float, clock: Callable[[], float] = time.time
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._clock = clock
        self._keys: KeySet | None = None
        self._fetched_at = 0.0
        self.fetches = 0

    async def get(self, *, refresh: bool = False) -> KeySet:
        if refresh or self._keys is None or self._clock() - self._fetched_at > self._ttl:
            document = await self._fetch()
            try:
                self._keys = KeySet.import_key_set(document)
            except (JoseError, ValueError, TypeError, KeyError):
                raise ProviderMisconfigured("the provider's signing keys (JWKS) cannot be read") from None
            self._fetched_at = self._clock()
            self.fetches += 1
        return self._keys


async def verify_id_token(
    id_token: str,
    *,
    keys: KeySetCache,
    issuers: Sequence[str],
    client_id: str,
    nonce: str,
    access_token: str | None,
    algorithms: Sequence[str],
    now: float,
    leeway: int,
) -> dict[str, Any]:
    """The token's claims once every check passed; raises InvalidIdToken naming the first that failed.

    An issuer containing ``{tenantid}`` (Microsoft's multi-tenant endpoints) is matched with the token's
    own ``tid`` substituted, after the signature is known to be the provider's.
    """
    allowed = [alg for alg in algorithms if alg in ALLOWED_ALGORITHMS] or ["RS256"]
    try:
        try:
            token = jwt.decode(id_token, await keys.get(), algorithms=allowed)
        except InvalidKeyIdError:
            token = jwt.decode(id_token, await keys.get(refresh=True), algorithms=allowed)
    except InvalidKeyIdError:
        raise InvalidIdToken("the ID token is signed with a key the provider does not publish") from None
    except (JoseError, ValueError) as exc:
        raise InvalidIdToken(f"the ID token's signature or format is wrong ({exc})") from None

    tenant = str(token.claims.get("tid", ""))
    expected = [issuer.replace("{tenantid}", tenant) for issuer in issuers]
    claims = CodeIDToken(
        token.claims,
        token.header,
        {"iss": {"essential": True, "values": expected}, "aud": {"essential": True, "value": client_id}},
        {"nonce": nonce, "client_id": client_id, "access_token": access_token},
    )
    try:
        claims.validate(now=int(now), leeway=leeway)
    except JoseError as exc:
        raise InvalidIdToken(f"the ID token was refused: {exc}") from None
    return dict(claims)
