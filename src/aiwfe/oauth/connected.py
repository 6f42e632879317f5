"""Connected accounts: provider tokens kept encrypted (MultiFernet), refreshed before they expire, and handed
to other domains (calendar sync) fresh. A refused refresh token marks the account ``needs_reconnect``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aiwfe.auth import audit
from aiwfe.auth.audit import ClientInfo
from aiwfe.auth.models import User
from aiwfe.core.crypto import InvalidToken, decrypt
from aiwfe.core.errors import AppError
from aiwfe.core.logging import get_logger
from aiwfe.oauth.errors import NotLinked, ProviderUnavailable, ReconnectNeeded, UnknownProvider
from aiwfe.oauth.models import AccountStatus, OAuthAccount
from aiwfe.oauth.service import OAuthDeps, store_tokens

log = get_logger(__name__)
WORKER_CLIENT = ClientInfo(ip=None, user_agent="aiwfe-worker")
Outcome = Literal["refreshed", "reconnect", "failed", "skipped"]


@dataclass(frozen=True)
class ReconnectNotice:
    email: str
    provider: str


@dataclass
class RefreshReport:
    refreshed: int = 0
    failed: int = 0
    reconnect: list[ReconnectNotice] = field(default_factory=list)


class ConnectedAccounts:
    def __init__(self, db: AsyncSession, deps: OAuthDeps, client: ClientInfo = WORKER_CLIENT) -> None:
        self.db = db
        self.deps = deps
        self.settings = deps.settings
        self.client = client

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.deps.clock(), UTC)

    async def access_token(self, account_id: uuid.UUID) -> str:
        """A usable access token for a connected account, refreshed first when it is about to expire.

        Raises NotLinked (no tokens), ReconnectNeeded (the user must link again) or ProviderUnavailable.
        """
        account = await self.db.get(OAuthAccount, account_id)
        if account is None or account.access_token_encrypted is None:
            raise NotLinked("no such connected account")
        provider = account.provider  # kept: a rollback in _refresh_one expires the row
        if account.status is AccountStatus.NEEDS_RECONNECT:
            raise ReconnectNeeded(f"the {provider} account must be linked again")
        soon = self._now() + timedelta(seconds=60)
        if account.token_expires_at is not None and account.token_expires_at <= soon:
            if account.refresh_token_encrypted is None:
                raise ReconnectNeeded(f"the {provider} token expired and cannot be refreshed")
            outcome = await self._refresh_one(account_id, due_before=soon, skip_locked=False)
            if outcome == "reconnect":
                raise ReconnectNeeded(f"the {provider} account must be linked again")
            if outcome == "failed":
                raise ProviderUnavailable(f"the {provider} token cannot be refreshed right now")
            account = await self.db.get(OAuthAccount, account_id, populate_existing=True)
            if account is not None and account.status is AccountStatus.NEEDS_RECONNECT:
                raise ReconnectNeeded(f"the {provider} account must be linked again")
        ciphertext = account.access_token_encrypted if account else None
        if ciphertext is None:
            raise NotLinked("no such connected account")
        return decrypt(self.settings, ciphertext)

    async def refresh_due(self, limit: int = 200) -> RefreshReport:
        """Refresh every active connected account whose token expires within the ahead window."""
        due_before = self._now() + timedelta(seconds=self.settings.oauth_refresh_ahead_seconds)
        ids = list(
            await self.db.scalars(
                select(OAuthAccount.id)
                .join(User, User.id == OAuthAccount.user_id)
                .where(
                    User.is_active.is_(True),  # a deactivated user's tokens are left to expire
                    OAuthAccount.refresh_token_encrypted.is_not(None),
                    OAuthAccount.status == AccountStatus.ACTIVE,
                    OAuthAccount.token_expires_at <= due_before,
                )
                .order_by(OAuthAccount.token_expires_at)
                .limit(limit)
            )
        )
        await self.db.commit()
        report = RefreshReport()
        for account_id in ids:
            outcome = await self._refresh_one(
                account_id, due_before=due_before, skip_locked=True, report=report
            )
            if outcome == "refreshed":
                report.refreshed += 1
            elif outcome == "failed":
                report.failed += 1
        return report

    async def _refresh_one(
        self,
        account_id: uuid.UUID,
        *,
        due_before: datetime,
        skip_locked: bool,
        report: RefreshReport | None = None,
    ) -> Outcome:
        # The row stays locked across the provider call: two workers must never spend one rotating
        # refresh token twice (the second would be refused, and the account wrongly need reconnecting).
        account = await self.db.scalar(
            select(OAuthAccount)
            .where(OAuthAccount.id == account_id)
            .with_for_update(skip_locked=skip_locked)
            .execution_options(populate_existing=True)
        )
        if (
            account is None
            or account.refresh_token_encrypted is None
            or account.status is not AccountStatus.ACTIVE
            or (account.token_expires_at is not None and account.token_expires_at > due_before)
        ):
            await self.db.rollback()
            return "skipped"  # gone, or refreshed meanwhile by someone else
        try:
            provider = self.deps.providers.get(account.provider, for_sign_in=False)
        except UnknownProvider:
            log.warning("oauth_refresh_skipped", provider=account.provider, reason="provider not configured")
            await self.db.rollback()
            return "skipped"
        try:
            tokens = await provider.refresh(
                decrypt(self.settings, account.refresh_token_encrypted), account.scopes
            )
        except ReconnectNeeded:
            account.status = AccountStatus.NEEDS_RECONNECT
            audit.record(
                self.db,
                "oauth_reconnect_needed",
                client=self.client,
                user_id=account.user_id,
                outcome="failed",
                provider=account.provider,
                account=str(account.id),
            )
            user = await self.db.get(User, account.user_id)
            await self.db.commit()
            if report is not None and user is not None:
                report.reconnect.append(ReconnectNotice(user.email, provider.label))
            log.info("oauth_reconnect_needed", provider=account.provider, account=str(account.id))
            return "reconnect"
        except (AppError, InvalidToken) as exc:
            # An outage, or a problem of this server's (client credentials, a dropped encryption key): no
            # news about the account, so it stays active and is tried again on the next run. Logged, not
            # audited, or a misconfiguration would write an audit row per account every run.
            reason = exc.code if isinstance(exc, AppError) else "undecryptable-token"
            log.warning(
                "oauth_refresh_failed", provider=account.provider, account=str(account.id), reason=reason
            )
            await self.db.rollback()
            return "failed"
        store_tokens(self.settings, account, tokens, self._now())
        await self.db.commit()
        return "refreshed"
