"""Discovery: the issuer a provider's document names must be the configured one, spelled exactly (an
authentik issuer keeps its trailing slash); Microsoft's multi-tenant and personal-account documents pass.
Served by an in-process transport, since these providers' real documents cannot run on loopback.
"""

from __future__ import annotations

import json

import httpx
import pytest
from pydantic import SecretStr

from aiwfe.core.settings import Settings
from aiwfe.oauth.config import MICROSOFT_CONSUMERS_TENANT_ID
from aiwfe.oauth.errors import ProviderMisconfigured
from aiwfe.oauth.providers import Providers


def _document(issuer: str, base: str) -> dict[str, str]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "jwks_uri": f"{base}/keys",
    }


# Discovery URL → the issuer its document names (as the real providers answer).
DOCUMENTS = {
    "https://auth.example.com/application/o/aiwfe/.well-known/openid-configuration": (
        "https://auth.example.com/application/o/aiwfe/"
    ),
    "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration": (
        "https://login.microsoftonline.com/{tenantid}/v2.0"
    ),
    "https://login.microsoftonline.com/consumers/v2.0/.well-known/openid-configuration": (
        f"https://login.microsoftonline.com/{MICROSOFT_CONSUMERS_TENANT_ID}/v2.0"
    ),
}


def _serve(request: httpx.Request) -> httpx.Response:
    issuer = DOCUMENTS.get(str(request.url))
    if issuer is None:
        return httpx.Response(404)
    return httpx.Response(200, json=_document(issuer, str(request.url).split("/.well-known")[0]))


def _providers(*configs: dict[str, str]) -> Providers:
    settings = Settings(oauth_providers=SecretStr(json.dumps(list(configs))), oauth_http_attempts=1)
    return Providers(settings, transport=httpx.MockTransport(_serve))


@pytest.mark.parametrize(
    "config",
    [
        {"kind": "oidc", "issuer": "https://auth.example.com/application/o/aiwfe/"},
        {"kind": "microsoft", "tenant": "common"},
        {"kind": "microsoft", "tenant": "consumers"},
    ],
)
async def test_discovery_accepts_the_issuer_the_provider_names(config: dict[str, str]) -> None:
    providers = _providers({"name": "p", "client_id": "c", **config})
    try:
        endpoints = await providers.get("p").endpoints()
    finally:
        await providers.aclose()
    assert endpoints.authorization.endswith("/authorize")
    assert endpoints.revocation is None


async def test_discovery_refuses_an_issuer_spelled_differently() -> None:
    providers = _providers(
        {
            "name": "p",
            "kind": "oidc",
            "client_id": "c",
            "issuer": "https://auth.example.com/application/o/aiwfe",
        }
    )
    try:
        with pytest.raises(ProviderMisconfigured, match="names issuer"):
            await providers.get("p").endpoints()
    finally:
        await providers.aclose()
