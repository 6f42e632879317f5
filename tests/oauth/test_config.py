"""``AIWFE_OAUTH_PROVIDERS``: each kind's defaults, and readable errors without secrets."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import SecretStr

from aiwfe.api.app import create_app
from aiwfe.core.settings import Settings
from aiwfe.oauth.config import ProviderConfig, ProviderKind, ProvidersConfigError, parse_providers

DOCS = Path(__file__).resolve().parents[2] / "docs" / "oauth.md"


def _parse(providers: object) -> dict[str, ProviderConfig]:
    return dict(parse_providers(Settings(oauth_providers=SecretStr(json.dumps(providers)))))


def test_google_and_microsoft_need_only_a_client() -> None:
    configs = _parse(
        [
            {"name": "google", "kind": "google", "client_id": "g", "client_secret": "s"},
            {"name": "ms", "kind": "microsoft", "client_id": "m", "tenant": "organizations"},
        ]
    )
    google, microsoft = configs["google"], configs["ms"]
    assert google.issuer == "https://accounts.google.com"
    assert google.connect_params == {"access_type": "offline", "prompt": "consent"}
    assert google.display_name == "Google"
    assert microsoft.issuer == "https://login.microsoftonline.com/organizations/v2.0"
    assert microsoft.connect_scopes == ["offline_access"]


def test_github_asks_for_the_user_and_email_scopes() -> None:
    (github,) = _parse([{"name": "github", "kind": "github", "client_id": "c"}]).values()
    assert github.kind is ProviderKind.GITHUB
    assert github.scopes == ["read:user", "user:email"]


def test_a_generic_provider_needs_an_issuer() -> None:
    with pytest.raises(ProvidersConfigError, match="issuer"):
        _parse([{"name": "corp", "kind": "oidc", "client_id": "c"}])


def test_errors_name_the_problem_but_never_the_secret() -> None:
    with pytest.raises(ProvidersConfigError) as caught:
        _parse([{"name": "Bad Name", "kind": "oidc", "client_id": "c", "client_secret": "hunter2-secret"}])
    assert "name" in str(caught.value)
    assert "hunter2-secret" not in str(caught.value)


def test_names_are_unique_and_json_is_required() -> None:
    with pytest.raises(ProvidersConfigError, match="twice"):
        _parse(
            [
                {"name": "g", "kind": "google", "client_id": "a"},
                {"name": "g", "kind": "google", "client_id": "b"},
            ]
        )
    with pytest.raises(ProvidersConfigError, match="not JSON"):
        parse_providers(Settings(oauth_providers=SecretStr("[{")))


def test_the_example_in_the_docs_is_valid() -> None:
    docs = DOCS.read_text()
    match = re.search(r"AIWFE_OAUTH_PROVIDERS='(\[.*?\])'", docs, re.DOTALL)
    assert match, "docs/oauth.md lost its AIWFE_OAUTH_PROVIDERS example"
    configs = parse_providers(Settings(oauth_providers=SecretStr(match.group(1))))
    assert [c.kind for c in configs.values()] == list(ProviderKind)
    assert configs["microsoft"].connect_scopes[0] == "offline_access"


def test_the_documented_redirect_uri_is_the_callback_route() -> None:
    docs = DOCS.read_text()
    path = create_app(Settings()).url_path_for("oauth_callback", provider="<name>")
    assert f"<AIWFE_PUBLIC_URL>{path}" in docs
