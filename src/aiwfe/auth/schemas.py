"""Request and response bodies of the auth API. Every field is bounded, so oversize input is a 422."""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from aiwfe.auth.models import Role

Password = Annotated[str, Field(min_length=1, max_length=1024)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=6, max_length=32)]
OpaqueToken = Annotated[str, StringConstraints(strip_whitespace=True, min_length=16, max_length=256)]
Scope = Literal["read", "write", "admin", "caldav"]


def _valid_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterIn(Strict):
    email: EmailStr = Field(max_length=320)
    password: Password
    display_name: Name = ""
    time_zone: str = Field(default="UTC", max_length=64)
    invite_token: OpaqueToken | None = Field(default=None, description="required in registration mode invite")

    _zone = field_validator("time_zone")(_valid_zone)


class LoginIn(Strict):
    email: EmailStr = Field(max_length=320)
    password: Password
    mode: Literal["cookie", "token"] = Field(
        default="cookie", description="cookie: browser session; token: return a bearer token for API clients"
    )


class MfaLoginIn(Strict):
    mfa_token: OpaqueToken
    code: Code | None = None
    recovery_code: Code | None = None
    mode: Literal["cookie", "token"] = "cookie"


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    display_name: str
    time_zone: str
    role: Role
    is_active: bool
    email_verified: bool
    totp_enabled: bool
    created_at: datetime


class UserPageOut(BaseModel):
    """One page of the admin's user list, and how many accounts match the query in all."""

    total: int
    items: list[UserOut]


class LoginOut(BaseModel):
    mfa_required: bool = False
    mfa_token: str | None = None
    user: UserOut | None = None
    csrf_token: str | None = None
    session_token: str | None = Field(default=None, description="only in token mode")


class ProfileIn(Strict):
    display_name: Name | None = None
    time_zone: str | None = Field(default=None, max_length=64)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else _valid_zone(value)


class PasswordChangeIn(Strict):
    current_password: Password
    new_password: Password


class EmailIn(Strict):
    email: EmailStr = Field(max_length=320)


class TokenIn(Strict):
    token: OpaqueToken


class PasswordResetIn(Strict):
    token: OpaqueToken
    new_password: Password


class SessionOut(BaseModel):
    id: str
    created_at: datetime
    last_seen_at: datetime
    ip: str
    user_agent: str
    mfa: bool
    current: bool


class TotpSetupOut(BaseModel):
    secret: str
    otpauth_uri: str
    qr_svg: str


class TotpCodeIn(Strict):
    code: Code


class TotpDisableIn(Strict):
    password: Password
    code: Code


class ReauthIn(Strict):
    """Prove it is you again: your password, or a code from your authenticator app."""

    password: Password | None = None
    code: Code | None = None

    @model_validator(mode="after")
    def _one(self) -> ReauthIn:
        if (self.password is None) == (self.code is None):
            raise ValueError("send either password or code")
        return self


class ReauthOut(BaseModel):
    reauth_until: datetime = Field(description="sensitive changes need no new confirmation until then")


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str]


class AccessTokenIn(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    scopes: list[Scope] = Field(min_length=1, max_length=4)
    expires_at: datetime | None = Field(
        default=None, description="omitted: AIWFE_ACCESS_TOKEN_DEFAULT_DAYS (90) from now"
    )


class AccessTokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    scopes: list[str]
    prefix: str
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


class AccessTokenCreatedOut(AccessTokenOut):
    token: str = Field(description="shown once; store it now")


class InviteIn(Strict):
    email: EmailStr = Field(max_length=320)


class InviteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


class AdminUserPatch(Strict):
    role: Role | None = None
    is_active: bool | None = None


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: uuid.UUID | None
    actor_id: uuid.UUID | None
    event: str
    outcome: str
    ip: str | None
    user_agent: str | None
    details: dict[str, object]
    created_at: datetime

    @field_validator("ip", mode="before")
    @classmethod
    def _ip(cls, value: object) -> str | None:
        return None if value is None else str(value)
