"""Which providers this server offers: ``AIWFE_OAUTH_PROVIDERS`` (a JSON list) parsed into typed configs.

Google, GitHub and Microsoft need only a client id and secret; any other OpenID Provider (authentik,
Keycloak, ...) is ``kind: oidc`` with its issuer URL, from which everything else is discovered.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter, ValidationError, model_validator

from aiwfe.core.settings import Settings

GOOGLE_ISSUER = "https://accounts.google.com"
MICROSOFT_ISSUER = "https://login.microsoftonline.com/{tenant}/v2.0"
# Microsoft's "consumers" endpoints name the personal-accounts tenant by its id.
MICROSOFT_CONSUMERS_TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"


class ProviderKind(StrEnum):
    GOOGLE = "google"
    GITHUB = "github"
    MICROSOFT = "microsoft"
    OIDC = "oidc"


_LABELS = {
    ProviderKind.GOOGLE: "Google",
    ProviderKind.GITHUB: "GitHub",
    ProviderKind.MICROSOFT: "Microsoft",
}
_OIDC_SCOPES = ["openid", "email", "profile"]
_GITHUB_SCOPES = ["read:user", "user:email"]


class ProviderConfig(BaseModel):
    """One provider. ``scopes`` are asked at sign-in; linking adds ``connect_scopes`` (data access)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$", description="in URLs and the database")
    kind: ProviderKind
    client_id: str = Field(min_length=1)
    client_secret: SecretStr = SecretStr("")
    display_name: str = ""
    issuer: str | None = Field(
        default=None,
        description="OIDC issuer URL exactly as the provider spells it, trailing slash included (kind oidc)",
    )
    tenant: str = Field(default="common", description="Microsoft tenant: common, organizations or an id")
    scopes: list[str] = Field(default_factory=list)
    connect_scopes: list[str] = Field(default_factory=list)
    connect_params: dict[str, str] = Field(default_factory=dict)
    allow_sign_up: bool = True
    enabled: bool = True
    token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"  # noqa: S105 (a method name)
    # GitHub's endpoints (override for GitHub Enterprise)
    authorize_url: str = "https://github.com/login/oauth/authorize"
    token_url: str = "https://github.com/login/oauth/access_token"  # noqa: S105 (a URL)
    api_url: str = "https://api.github.com"

    @model_validator(mode="after")
    def _defaults(self) -> ProviderConfig:
        # Frozen model: fill the kind's defaults through __dict__ once, at validation.
        values = self.__dict__
        if self.kind is ProviderKind.GOOGLE:
            values["issuer"] = self.issuer or GOOGLE_ISSUER
            # Google grants a refresh token for access_type=offline, and again only with prompt=consent.
            values["connect_params"] = self.connect_params or {"access_type": "offline", "prompt": "consent"}
        elif self.kind is ProviderKind.MICROSOFT:
            values["issuer"] = self.issuer or MICROSOFT_ISSUER.format(tenant=self.tenant)
            values["connect_scopes"] = self.connect_scopes or ["offline_access"]
        elif self.kind is ProviderKind.OIDC:
            if not self.issuer:
                raise ValueError(f"provider {self.name!r}: kind oidc needs an issuer URL")
            values["connect_scopes"] = self.connect_scopes or ["offline_access"]
            # OpenID Connect grants offline_access only when consent is asked for.
            values["connect_params"] = self.connect_params or {"prompt": "consent"}
        values["scopes"] = self.scopes or (
            _GITHUB_SCOPES if self.kind is ProviderKind.GITHUB else _OIDC_SCOPES
        )
        values["display_name"] = self.display_name or _LABELS.get(self.kind, self.name)
        return self

    @property
    def is_oidc(self) -> bool:
        return self.kind is not ProviderKind.GITHUB


class ProvidersConfigError(ValueError):
    """``AIWFE_OAUTH_PROVIDERS`` cannot be used; the message says why (never with a secret)."""


def parse_providers(settings: Settings) -> dict[str, ProviderConfig]:
    """The configured providers by name, enabled or not. Raises ProvidersConfigError naming the problem."""
    raw = settings.oauth_providers.get_secret_value().strip() or "[]"
    try:
        configs = TypeAdapter(list[ProviderConfig]).validate_python(json.loads(raw))
    except json.JSONDecodeError as exc:
        raise ProvidersConfigError(f"AIWFE_OAUTH_PROVIDERS is not JSON: {exc.msg}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors(include_input=False)
        )
        raise ProvidersConfigError(f"AIWFE_OAUTH_PROVIDERS: {problems}") from None
    by_name: dict[str, ProviderConfig] = {}
    for config in configs:
        if config.name in by_name:
            raise ProvidersConfigError(f"AIWFE_OAUTH_PROVIDERS names {config.name!r} twice")
        by_name[config.name] = config
    return by_name
