"""Provider clients (Authlib): the authorization URL (PKCE S256, state, nonce), the code exchange, who the
user is (a verified ID token, or GitHub's user and emails API), refresh and revocation.

Every HTTP call goes through the provider's :class:`ProviderCalls` (timeouts, retries, circuit breaker).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client

from aiwfe.core import resilience
from aiwfe.core.settings import Settings
from aiwfe.oauth.config import (
    GOOGLE_ISSUER,
    MICROSOFT_CONSUMERS_TENANT_ID,
    ProviderConfig,
    ProviderKind,
    parse_providers,
)
from aiwfe.oauth.errors import (
    InvalidIdToken,
    ProviderMisconfigured,
    ProviderRefused,
    ReconnectNeeded,
    UnknownProvider,
)
from aiwfe.oauth.idtoken import KeySetCache, verify_id_token
from aiwfe.oauth.resilience import ProviderCalls, breaker_factory

JSON_ACCEPT = {"Accept": "application/json"}


@dataclass(frozen=True)
class Identity:
    """Who the user is at the provider."""

    subject: str
    email: str | None
    email_verified: bool
    name: str


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str | None
    expires_in: int | None
    scopes: list[str]


@dataclass(frozen=True)
class Endpoints:
    authorization: str
    token: str
    revocation: str | None


def _tokens(raw: dict[str, Any], scopes: list[str], previous_refresh: str | None = None) -> Tokens:
    expires_in = raw.get("expires_in")
    granted = raw.get("scope")
    return Tokens(
        access_token=str(raw["access_token"]),
        refresh_token=raw.get("refresh_token") or previous_refresh,
        expires_in=int(expires_in) if expires_in is not None else None,
        scopes=str(granted).replace(",", " ").split() if granted else scopes,
    )


def _truthy(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


class Provider(ABC):
    """One configured provider."""

    def __init__(
        self,
        config: ProviderConfig,
        settings: Settings,
        breakers: resilience.Breakers,
        clock: Callable[[], float],
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.settings = settings
        self.clock = clock
        self.calls = ProviderCalls(config.name, config.display_name, settings, breakers, transport)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def label(self) -> str:
        return self.config.display_name

    @property
    def uses_nonce(self) -> bool:
        return self.config.is_oidc

    @abstractmethod
    async def endpoints(self) -> Endpoints: ...

    def check_response_issuer(self, iss: str | None) -> None:  # noqa: B027 (plain OAuth names no issuer)
        """RFC 9207's ``iss`` in the redirect; only OpenID Providers send it."""

    @abstractmethod
    async def _identity(self, raw: dict[str, Any], nonce: str | None) -> Identity: ...

    def _client(self, **kwargs: Any) -> AsyncOAuth2Client:
        secret = self.config.client_secret.get_secret_value()
        return AsyncOAuth2Client(
            client_id=self.config.client_id,
            client_secret=secret or None,
            token_endpoint_auth_method=self.config.token_endpoint_auth_method,
            revocation_endpoint_auth_method=self.config.token_endpoint_auth_method,
            code_challenge_method="S256",
            timeout=self.calls.timeout,
            transport=self.calls.transport,
            **kwargs,
        )

    async def authorization_url(
        self,
        *,
        redirect_uri: str,
        scopes: list[str],
        params: dict[str, str],
        state: str,
        code_verifier: str,
        nonce: str | None,
    ) -> str:
        endpoints = await self.endpoints()
        extra = dict(params)
        if nonce is not None:
            extra["nonce"] = nonce
        async with self._client(redirect_uri=redirect_uri, scope=" ".join(scopes)) as client:
            url, _ = client.create_authorization_url(
                endpoints.authorization, state=state, code_verifier=code_verifier, **extra
            )
        return str(url)

    async def finish(
        self, *, code: str, redirect_uri: str, code_verifier: str, nonce: str | None, scopes: list[str]
    ) -> tuple[Identity, Tokens]:
        """Exchange the code (with the PKCE verifier) and establish who signed in."""
        endpoints = await self.endpoints()

        async def exchange() -> dict[str, Any]:
            async with self._client(redirect_uri=redirect_uri) as client:
                token: dict[str, Any] = await client.fetch_token(
                    endpoints.token,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=code_verifier,
                    headers=JSON_ACCEPT,
                )
                return dict(token)

        try:
            raw = await self.calls.call(exchange, idempotent=False)
        except OAuthError as exc:
            raise ProviderRefused(
                f"{self.label} refused the authorization code ({exc.error}): it is invalid, expired, "
                "already used, or was not issued for this sign-in"
            ) from None
        except (httpx.HTTPStatusError, ValueError) as exc:
            raise self._unreadable_token_answer(exc) from None
        if "access_token" not in raw:
            raise ProviderMisconfigured(f"{self.label}'s token answer holds no access token")
        return await self._identity(raw, nonce), _tokens(raw, scopes)

    async def refresh(self, refresh_token: str, scopes: list[str]) -> Tokens:
        """New tokens; raises ReconnectNeeded when the provider refuses the refresh token (invalid_grant)."""
        endpoints = await self.endpoints()

        async def post() -> dict[str, Any]:
            async with self._client() as client:
                token: dict[str, Any] = await client.refresh_token(
                    endpoints.token, refresh_token=refresh_token, headers=JSON_ACCEPT
                )
                return dict(token)

        try:
            raw = await self.calls.call(post, idempotent=False)
        except OAuthError as exc:
            if exc.error == "invalid_grant":
                raise ReconnectNeeded(
                    f"{self.label} no longer accepts this account's refresh token; link it again"
                ) from None
            raise ProviderRefused(f"{self.label} refused to refresh the token ({exc.error})") from None
        except (httpx.HTTPStatusError, ValueError) as exc:
            raise self._unreadable_token_answer(exc) from None
        if "access_token" not in raw:
            raise ProviderMisconfigured(f"{self.label}'s token answer holds no access token")
        return _tokens(raw, scopes, previous_refresh=refresh_token)

    def _unreadable_token_answer(self, exc: Exception) -> ProviderMisconfigured:
        # Not an OAuth error document (those are OAuthError): an HTML error page, a 404 from a wrong URL.
        status = exc.response.status_code if isinstance(exc, httpx.HTTPStatusError) else "with non-JSON"
        return ProviderMisconfigured(f"{self.label}'s token endpoint answered HTTP {status}")

    async def revoke(self, *, access_token: str | None, refresh_token: str | None) -> bool:
        """Revoke the grant at the provider; False when it offers no revocation.

        The refresh token goes first: revoking it ends the whole grant (RFC 7009 section 2.1).
        """
        endpoints = await self.endpoints()
        token, hint = (refresh_token, "refresh_token") if refresh_token else (access_token, "access_token")
        if endpoints.revocation is None or token is None:
            return False
        url = endpoints.revocation

        async def post() -> httpx.Response:
            async with self._client() as client:
                response: httpx.Response = await client.revoke_token(url, token=token, token_type_hint=hint)
                if response.status_code >= 500:
                    response.raise_for_status()
                return response

        response = await self.calls.call(post, idempotent=True)
        if response.status_code >= 400:
            raise ProviderRefused(f"{self.label} refused to revoke the token (HTTP {response.status_code})")
        return True

    async def aclose(self) -> None:
        await self.calls.aclose()


class OidcProvider(Provider):
    """Google, Microsoft, any OpenID Provider: endpoints and keys by discovery, identity from the ID token."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self.keys = KeySetCache(self._fetch_keys, self.settings.oauth_metadata_cache_seconds, time.monotonic)

    @property
    def issuer(self) -> str:
        assert self.config.issuer is not None
        return self.config.issuer

    def _issuer_matches(self, claimed: object) -> bool:
        if claimed == self.issuer:
            return True
        if self.config.kind is not ProviderKind.MICROSOFT or not isinstance(claimed, str):
            return False
        # Microsoft's multi-tenant documents name a template (each token names its own tenant), and its
        # "consumers" documents the personal-accounts tenant by id.
        tenant = f"/{self.config.tenant}/"
        return claimed in {
            self.issuer.replace(tenant, "/{tenantid}/"),
            self.issuer.replace("/consumers/", f"/{MICROSOFT_CONSUMERS_TENANT_ID}/"),
        }

    async def metadata(self) -> dict[str, Any]:
        fresh = time.monotonic() - self._metadata_at < self.settings.oauth_metadata_cache_seconds
        if self._metadata is not None and fresh:
            return self._metadata
        url = f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"
        document = await self.calls.get_json(url)
        if not isinstance(document, dict):
            raise ProviderMisconfigured(f"{url} is not a discovery document")
        if not self._issuer_matches(document.get("issuer")):
            raise ProviderMisconfigured(
                f"{url} names issuer {document.get('issuer')!r}, not the configured {self.issuer!r}"
            )
        missing = [k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not document.get(k)]
        if missing:
            raise ProviderMisconfigured(f"{url} lacks {', '.join(missing)}")
        self._metadata, self._metadata_at = document, time.monotonic()
        return document

    async def _fetch_keys(self) -> Any:
        return await self.calls.get_json((await self.metadata())["jwks_uri"])

    async def endpoints(self) -> Endpoints:
        meta = await self.metadata()
        return Endpoints(
            meta["authorization_endpoint"], meta["token_endpoint"], meta.get("revocation_endpoint")
        )

    def check_response_issuer(self, iss: str | None) -> None:
        """RFC 9207: when the provider names itself in the redirect, it must be the one we asked."""
        if iss is not None and not self._issuer_matches(iss) and not self._issuer_template_matches(iss):
            raise InvalidIdToken(f"the answer comes from {iss!r}, not {self.issuer!r}")

    def _issuer_template_matches(self, iss: str) -> bool:
        meta_issuer = (self._metadata or {}).get("issuer", "")
        if "{tenantid}" not in meta_issuer:
            return False
        prefix, _, suffix = meta_issuer.partition("{tenantid}")
        return iss.startswith(prefix) and iss.endswith(suffix)

    def _token_issuers(self, meta: dict[str, Any]) -> list[str]:
        issuers = [str(meta["issuer"])]
        if self.config.kind is ProviderKind.GOOGLE and self.issuer == GOOGLE_ISSUER:
            issuers.append("accounts.google.com")  # Google still issues some tokens without the scheme
        return issuers

    async def _identity(self, raw: dict[str, Any], nonce: str | None) -> Identity:
        if "id_token" not in raw or nonce is None:
            raise InvalidIdToken(f"{self.label} sent no ID token")
        meta = await self.metadata()
        claims = await verify_id_token(
            str(raw["id_token"]),
            keys=self.keys,
            issuers=self._token_issuers(meta),
            client_id=self.config.client_id,
            nonce=nonce,
            access_token=str(raw["access_token"]),
            algorithms=meta.get("id_token_signing_alg_values_supported") or ["RS256"],
            now=self.clock(),
            leeway=self.settings.oauth_clock_skew_seconds,
        )
        if "email" not in claims and meta.get("userinfo_endpoint"):
            info = await self.calls.get_json(
                meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {raw['access_token']}"}
            )
            if not isinstance(info, dict) or str(info.get("sub")) != str(claims["sub"]):
                raise InvalidIdToken("the provider's user info belongs to another subject")
            claims = {**info, **claims}
        verified = _truthy(claims.get("email_verified"))
        if self.config.kind is ProviderKind.MICROSOFT:
            # Microsoft asserts verification through the optional claim xms_edov (domain owner verified).
            verified = verified or _truthy(claims.get("xms_edov"))
        email = claims.get("email")
        return Identity(
            subject=str(claims["sub"]),
            email=str(email) if email else None,
            email_verified=bool(email) and verified,
            name=str(claims.get("name") or claims.get("preferred_username") or "")[:200],
        )


class GitHubProvider(Provider):
    """GitHub: plain OAuth 2 (no ID token); identity from ``/user``, verified email from ``/user/emails``."""

    async def endpoints(self) -> Endpoints:
        return Endpoints(self.config.authorize_url, self.config.token_url, None)

    def _api_headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"}

    async def _identity(self, raw: dict[str, Any], nonce: str | None) -> Identity:
        headers = self._api_headers(str(raw["access_token"]))
        api = self.config.api_url.rstrip("/")
        user = await self.calls.get_json(f"{api}/user", headers=headers)
        emails = await self.calls.get_json(f"{api}/user/emails", headers=headers)
        if not isinstance(user, dict) or "id" not in user or not isinstance(emails, list):
            raise ProviderMisconfigured("GitHub's user API answered something unexpected")
        primary = next((e for e in emails if isinstance(e, dict) and e.get("primary")), None)
        if primary is None or not primary.get("verified"):
            primary = next((e for e in emails if isinstance(e, dict) and e.get("verified")), primary)
        email = str(primary["email"]) if primary and primary.get("email") else None
        return Identity(
            subject=str(user["id"]),
            email=email,
            email_verified=bool(email and primary and primary.get("verified") is True),
            name=str(user.get("name") or user.get("login") or "")[:200],
        )

    async def revoke(self, *, access_token: str | None, refresh_token: str | None) -> bool:
        """GitHub revokes the whole grant: ``DELETE /applications/{client_id}/grant`` with basic auth.

        It names the grant by an access token only (a refresh token is not accepted there).
        """
        if access_token is None:
            return False
        api = self.config.api_url.rstrip("/")
        auth = (self.config.client_id, self.config.client_secret.get_secret_value())

        async def delete() -> httpx.Response:
            response = await self.calls.http.request(
                "DELETE",
                f"{api}/applications/{self.config.client_id}/grant",
                json={"access_token": access_token},
                auth=auth,
            )
            if response.status_code >= 500:
                response.raise_for_status()
            return response

        response = await self.calls.call(delete, idempotent=True)
        # 404: the grant is already gone, which is what we wanted.
        if response.status_code >= 400 and response.status_code != 404:
            raise ProviderRefused(f"GitHub refused to revoke the grant (HTTP {response.status_code})")
        return True


class Providers:
    """Every configured provider's client, built once per process (API lifespan, worker task)."""

    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.breakers = breaker_factory(settings)
        self._providers: dict[str, Provider] = {}
        for name, config in parse_providers(settings).items():
            cls = GitHubProvider if config.kind is ProviderKind.GITHUB else OidcProvider
            self._providers[name] = cls(config, settings, self.breakers, clock, transport)

    def enabled(self) -> list[ProviderConfig]:
        return [p.config for p in self._providers.values() if p.config.enabled]

    def get(self, name: str, *, for_sign_in: bool = True) -> Provider:
        """The provider; sign-in and linking need it enabled, refresh and revocation only configured."""
        provider = self._providers.get(name)
        if provider is None or (for_sign_in and not provider.config.enabled):
            raise UnknownProvider(f"no sign-in provider named {name!r} is enabled on this server")
        return provider

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()
