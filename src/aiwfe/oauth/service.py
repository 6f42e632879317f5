"""The oauth domain's logic, with no HTTP: start a sign-in or a link at a provider, finish it by the linking
rules, list and unlink a user's accounts.

Linking rules (account-takeover prevention). An identity already linked signs its user in. Otherwise it is
linked to the local account with the same email only when the provider asserts that email verified AND the
local email is verified; anything else asks the owner to sign in first and link from their settings. A new
account is created only from a verified email, when registration is open and the provider allows sign-up.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aiwfe.auth import audit
from aiwfe.auth.errors import Forbidden, RegistrationClosed
from aiwfe.auth.models import User
from aiwfe.auth.service import AuthService, MfaChallenge, SignedIn
from aiwfe.core.clock import Clock
from aiwfe.core.crypto import InvalidToken, decrypt, encrypt, new_token, same, token_hash
from aiwfe.core.errors import AppError
from aiwfe.core.logging import get_logger
from aiwfe.core.settings import RegistrationMode, Settings
from aiwfe.oauth.config import ProviderConfig
from aiwfe.oauth.errors import (
    AuthorizationDenied,
    IdentityLinkedElsewhere,
    InvalidFlow,
    LastSignInMethod,
    NotLinked,
    ProviderRefused,
    SignInFirst,
    SignUpRefused,
)
from aiwfe.oauth.flows import Flow, FlowStore, Intent
from aiwfe.oauth.models import AccountStatus, OAuthAccount
from aiwfe.oauth.providers import Identity, Provider, Providers, Tokens

log = get_logger(__name__)


@dataclass
class OAuthDeps:
    """Per-process collaborators of the oauth domain (built once in the app's lifespan or a worker task)."""

    settings: Settings
    redis: Redis
    clock: Clock
    providers: Providers
    flows: FlowStore

    @classmethod
    def build(
        cls,
        settings: Settings,
        redis: Redis,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> OAuthDeps:
        clock = clock or Clock()
        return cls(
            settings=settings,
            redis=redis,
            clock=clock,
            providers=Providers(settings, clock, transport),
            flows=FlowStore(redis, settings.oauth_flow_minutes * 60),
        )

    async def aclose(self) -> None:
        await self.providers.aclose()


def store_tokens(settings: Settings, account: OAuthAccount, tokens: Tokens, now: datetime) -> None:
    """Keep ``tokens`` on the account, encrypted; without a refresh token there is nothing to refresh."""
    account.access_token_encrypted = encrypt(settings, tokens.access_token)
    account.refresh_token_encrypted = (
        encrypt(settings, tokens.refresh_token) if tokens.refresh_token else None
    )
    account.token_expires_at = now + timedelta(seconds=tokens.expires_in) if tokens.expires_in else None
    account.scopes = tokens.scopes
    account.last_refreshed_at = now
    account.status = AccountStatus.ACTIVE


@dataclass(frozen=True)
class Started:
    authorization_url: str
    binding: str  # the browser keeps it in a cookie; the flow keeps only its hash


@dataclass(frozen=True)
class Finished:
    intent: Intent
    user: User
    account: OAuthAccount
    next_path: str
    signed_in: SignedIn | MfaChallenge | None = None


class OAuthService:
    def __init__(self, db: AsyncSession, deps: OAuthDeps, auth: AuthService) -> None:
        self.db = db
        self.deps = deps
        self.settings = deps.settings
        self.auth = auth

    def _audit(self, event: str, **kwargs: object) -> None:
        audit.record(self.db, event, client=self.auth.client, **kwargs)  # type: ignore[arg-type]

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.deps.clock(), UTC)

    def providers(self) -> list[ProviderConfig]:
        return self.deps.providers.enabled()

    # ---- starting ----------------------------------------------------------------------------------

    async def start(
        self,
        provider_name: str,
        intent: Intent,
        *,
        redirect_uri: str,
        next_path: str,
        user: User | None = None,
    ) -> Started:
        """Where to send the browser; linking asks for the provider's data-access scopes too."""
        provider = self.deps.providers.get(provider_name)
        config = provider.config
        scopes = list(config.scopes)
        params: dict[str, str] = {}
        if intent == "link":
            if user is not None:
                self.auth.require_verified(user)
            scopes += [scope for scope in config.connect_scopes if scope not in scopes]
            params = dict(config.connect_params)
        state, binding = new_token(32), new_token(24)
        code_verifier = new_token(48)  # 64 URL-safe characters (RFC 7636 wants 43-128)
        nonce = new_token(24) if provider.uses_nonce else None
        url = await provider.authorization_url(
            redirect_uri=redirect_uri,
            scopes=scopes,
            params=params,
            state=state,
            code_verifier=code_verifier,
            nonce=nonce,
        )
        flow = Flow(
            provider=provider.name,
            intent=intent,
            redirect_uri=redirect_uri,
            code_verifier=code_verifier,
            nonce=nonce,
            binding_hash=token_hash(binding),
            scopes=scopes,
            next_path=next_path,
            user_id=str(user.id) if user else None,
        )
        await self.deps.flows.put(state, flow)
        return Started(url, binding)

    # ---- finishing ---------------------------------------------------------------------------------

    async def finish(
        self,
        provider_name: str,
        *,
        state: str | None,
        code: str | None,
        error: str | None,
        iss: str | None,
        binding: str | None,
    ) -> Finished:
        """Finish the flow ``state`` names, for the browser holding ``binding``. Failures are audited."""
        provider = self.deps.providers.get(provider_name)
        flow = await self.deps.flows.take(state) if state else None
        if (
            flow is None
            or flow.provider != provider.name
            or not binding
            or not same(token_hash(binding), flow.binding_hash)
        ):
            self._audit("oauth_login", outcome="failed", provider=provider.name, reason=InvalidFlow.code)
            await self.db.commit()
            raise InvalidFlow(
                "this sign-in is unknown, expired, already finished or was started in another browser; "
                "start again"
            )
        try:
            return await self._finish(provider, flow, code, error, iss)
        except AppError as exc:
            await self.db.rollback()
            self._audit(
                "oauth_link" if flow.intent == "link" else "oauth_login",
                user_id=uuid.UUID(flow.user_id) if flow.user_id else None,
                outcome="failed",
                provider=provider.name,
                reason=exc.code,
            )
            await self.db.commit()
            raise

    async def _finish(
        self, provider: Provider, flow: Flow, code: str | None, error: str | None, iss: str | None
    ) -> Finished:
        if error:
            if error == "access_denied":
                raise AuthorizationDenied(f"the sign-in at {provider.label} was cancelled or refused")
            raise ProviderRefused(f"{provider.label} answered the sign-in with {error!r}")
        provider.check_response_issuer(iss)
        if not code:
            raise InvalidFlow(f"{provider.label} sent no authorization code")
        identity, tokens = await provider.finish(
            code=code,
            redirect_uri=flow.redirect_uri,
            code_verifier=flow.code_verifier,
            nonce=flow.nonce,
            scopes=flow.scopes,
        )
        if flow.intent == "link":
            return await self._link(provider, flow, identity, tokens)
        return await self._login(provider, flow, identity)

    async def _account(self, provider: str, subject: str) -> OAuthAccount | None:
        return await self.db.scalar(
            select(OAuthAccount).where(OAuthAccount.provider == provider, OAuthAccount.subject == subject)
        )

    def _new_account(self, user: User, provider: Provider, identity: Identity) -> OAuthAccount:
        account = OAuthAccount(
            user_id=user.id,
            provider=provider.name,
            subject=identity.subject,
            scopes=[],
            linked_unverified=user.email_verified_at is None,
        )
        self._describe(account, identity)
        self.db.add(account)
        return account

    @staticmethod
    def _describe(account: OAuthAccount, identity: Identity) -> None:
        account.email = identity.email
        account.email_verified = identity.email_verified
        account.display_name = identity.name

    async def _sign_in(self, provider: Provider, flow: Flow, user: User, account: OAuthAccount) -> Finished:
        if not user.is_active:
            raise Forbidden("this account is deactivated")
        account.last_login_at = self._now()
        self._audit("oauth_login", user_id=user.id, provider=provider.name)
        signed_in = await self.auth.sign_in_external(user, f"oauth:{provider.name}")
        return Finished("login", user, account, flow.next_path, signed_in)

    async def _login(self, provider: Provider, flow: Flow, identity: Identity) -> Finished:
        account = await self._account(provider.name, identity.subject)
        if account is not None:
            user = await self.auth.user_by_id(account.user_id)
            assert user is not None  # the foreign key cascades
            self._describe(account, identity)
            return await self._sign_in(provider, flow, user, account)

        user = await self.auth.user_by_email(identity.email) if identity.email else None
        if user is not None:
            if not (identity.email_verified and user.email_verified_at is not None):
                raise SignInFirst(
                    f"an account with this email exists; sign in to it first, then link {provider.label} "
                    "from your account settings"
                )
            account = self._new_account(user, provider, identity)
            self._audit("oauth_link", user_id=user.id, provider=provider.name, via="verified_email")
            return await self._sign_in(provider, flow, user, account)

        return await self._sign_up(provider, flow, identity)

    async def _sign_up(self, provider: Provider, flow: Flow, identity: Identity) -> Finished:
        if self.settings.registration_mode is not RegistrationMode.OPEN:
            raise RegistrationClosed(
                f"registration is {self.settings.registration_mode.value} on this server"
            )
        if not provider.config.allow_sign_up:
            raise SignUpRefused(f"accounts cannot be created through {provider.label}; sign up first")
        if not (identity.email and identity.email_verified):
            raise SignUpRefused(
                f"{provider.label} did not share a verified email address, which a new account needs"
            )
        if self.auth.client.ip:
            await self.auth.deps.limiter.hit(
                self.settings.register_rate_per_ip, "register", self.auth.client.ip
            )
        now = self._now()
        user = User(email=identity.email, display_name=identity.name, email_verified_at=now)
        self.db.add(user)
        try:
            await self.db.flush()
        except IntegrityError:
            await self.db.rollback()
            raise SignInFirst("an account with this email was just created; sign in to it first") from None
        account = self._new_account(user, provider, identity)
        self._audit("register", user_id=user.id, method=f"oauth:{provider.name}")
        return await self._sign_in(provider, flow, user, account)

    async def _link(self, provider: Provider, flow: Flow, identity: Identity, tokens: Tokens) -> Finished:
        user = await self.auth.user_by_id(uuid.UUID(flow.user_id)) if flow.user_id else None
        if user is None or not user.is_active:
            raise InvalidFlow("the account this link was started for is gone or deactivated")
        account = await self._account(provider.name, identity.subject)
        if account is not None and account.user_id != user.id:
            raise IdentityLinkedElsewhere(
                f"this {provider.label} account is linked to another user; unlink it there first"
            )
        event = "oauth_link"
        if account is None:
            account = self._new_account(user, provider, identity)
        else:
            self._describe(account, identity)
            if account.status is AccountStatus.NEEDS_RECONNECT:
                event = "oauth_reconnected"
        store_tokens(self.settings, account, tokens, self._now())
        self._audit(event, user_id=user.id, provider=provider.name, scopes=tokens.scopes)
        await self.db.commit()
        return Finished("link", user, account, flow.next_path)

    # ---- the user's accounts -------------------------------------------------------------------------

    async def list_accounts(self, user: User) -> list[OAuthAccount]:
        rows = await self.db.scalars(
            select(OAuthAccount)
            .where(OAuthAccount.user_id == user.id)
            .order_by(OAuthAccount.created_at, OAuthAccount.id)
        )
        return list(rows.all())

    async def unlink(self, user: User, account_id: uuid.UUID) -> bool:
        """Unlink one account, revoking its tokens at the provider when it offers revocation.

        Refused when nothing else could sign the user in (no password, no other enabled provider).
        Returns whether the provider confirmed the revocation.
        """
        # Lock the user: two concurrent unlinks must not each leave the other as "the remaining way in".
        await self.db.execute(select(User.id).where(User.id == user.id).with_for_update())
        account = await self.db.get(OAuthAccount, account_id)
        if account is None or account.user_id != user.id:
            raise NotLinked("no such linked account")
        enabled = {config.name for config in self.deps.providers.enabled()}
        others = await self.db.scalar(
            select(func.count())
            .select_from(OAuthAccount)
            .where(
                OAuthAccount.user_id == user.id,
                OAuthAccount.id != account.id,
                OAuthAccount.provider.in_(enabled),
            )
        )
        if user.password_hash is None and not others:
            raise LastSignInMethod(
                "unlinking it would leave no way to sign in: set a password (reset it by email) "
                "or link another provider first"
            )
        revoked, problem = await self._revoke(account)
        await self.db.delete(account)
        self._audit(
            "oauth_unlink", user_id=user.id, provider=account.provider, revoked=revoked, revoke_error=problem
        )
        await self.db.commit()
        return revoked

    async def _revoke(self, account: OAuthAccount) -> tuple[bool, str | None]:
        """Best effort: the link goes either way, since our copy of the tokens is deleted with it."""
        if not account.connected:
            return False, None
        try:
            provider = self.deps.providers.get(account.provider, for_sign_in=False)
            access, refresh = account.access_token_encrypted, account.refresh_token_encrypted
            revoked = await provider.revoke(
                access_token=decrypt(self.settings, access) if access else None,
                refresh_token=decrypt(self.settings, refresh) if refresh else None,
            )
            return revoked, None
        except InvalidToken:
            log.warning("oauth_revoke_failed", provider=account.provider, error="undecryptable-token")
            return False, "undecryptable-token"
        except AppError as exc:
            log.warning("oauth_revoke_failed", provider=account.provider, error=exc.code)
            return False, exc.code
