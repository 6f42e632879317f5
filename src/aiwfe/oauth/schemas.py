"""Response bodies of the oauth API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from aiwfe.oauth.config import ProviderKind
from aiwfe.oauth.models import AccountStatus


class ProviderOut(BaseModel):
    name: str
    display_name: str
    kind: ProviderKind
    login_url: str


class LinkStartOut(BaseModel):
    authorization_url: str


class OAuthAccountOut(BaseModel):
    """A linked provider account; ``connected`` when it holds tokens for data access."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    provider: str
    email: str | None
    email_verified: bool
    display_name: str
    status: AccountStatus
    connected: bool
    scopes: list[str]
    token_expires_at: datetime | None
    last_login_at: datetime | None
    last_refreshed_at: datetime | None
    created_at: datetime


class UnlinkedOut(BaseModel):
    revoked_at_provider: bool
