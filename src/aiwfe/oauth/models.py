"""The oauth domain's table: a user's account at a provider, and (once connected) its tokens, encrypted."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Boolean, DateTime, Enum, ForeignKey, Index, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from aiwfe.core.db import Base


class AccountStatus(enum.StrEnum):
    ACTIVE = "active"
    # The provider refused the refresh token (revoked, expired, password changed): the user must link again.
    NEEDS_RECONNECT = "needs_reconnect"


class OAuthAccount(Base):
    """One identity at one provider, linked to one user. It signs the user in; when it was linked for data
    access it also holds the provider's tokens (MultiFernet-encrypted), kept fresh by the refresh task.
    """

    __tablename__ = "oauth_accounts"
    __table_args__ = (UniqueConstraint("provider", "subject", name="uq_oauth_accounts_provider_subject"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    # Linked while the user's own address was unverified: a password reset by email link removes it.
    linked_unverified: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    display_name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[AccountStatus] = mapped_column(
        Enum(AccountStatus, name="oauth_account_status", values_callable=lambda e: [m.value for m in e]),
        default=AccountStatus.ACTIVE,
    )
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(255)), default=list)
    access_token_encrypted: Mapped[str | None] = mapped_column(Text)
    refresh_token_encrypted: Mapped[str | None] = mapped_column(Text)
    token_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_refreshed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )

    @property
    def connected(self) -> bool:
        """Whether it holds tokens for data access (it was linked, not only used to sign in)."""
        return self.access_token_encrypted is not None


# What the refresh task scans: connected accounts whose access token expires soon.
Index(
    "ix_oauth_accounts_refresh_due",
    OAuthAccount.token_expires_at,
    postgresql_where=OAuthAccount.refresh_token_encrypted.is_not(None),
)
