"""Request and response bodies of the reminders API; every field is bounded, so bad input is a 422."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from aiwfe.calendar.reminders.models import MAX_MINUTES_BEFORE, Channel, DeliveryStatus
from aiwfe.calendar.reminders.webhook import MAX_URL_LENGTH

MAX_REMINDERS = 10
WebhookUrl = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_URL_LENGTH)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReminderIn(Strict):
    minutes_before: int = Field(ge=0, le=MAX_MINUTES_BEFORE, description="0 = at the start; at most 4 weeks")
    channel: Channel


class ReminderOut(BaseModel):
    minutes_before: int
    channel: Channel


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    title: str
    body: str
    data: dict[str, Any]
    read_at: datetime | None
    created_at: datetime


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None
    unread: int = Field(description="unread notifications in total")


class WebhookIn(Strict):
    url: WebhookUrl | None = Field(
        default=None, description="http(s) URL to POST reminders to; null disables"
    )
    rotate_secret: bool = Field(default=False, description="replace the signing secret (shown once)")


class WebhookOut(BaseModel):
    url: str | None
    secret_rotated_at: datetime | None
    secret: str | None = Field(
        default=None, description="the HMAC-SHA256 signing secret: only in the answer that created it"
    )


class MarkedRead(BaseModel):
    marked: int = Field(description="notifications that were unread and are read now")


class WebhookDeliveryOut(BaseModel):
    """One reminder sent (or being sent) to the webhook, for the settings page's recent list."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    event_id: uuid.UUID
    summary: str
    occurrence_start: datetime
    due_at: datetime
    status: DeliveryStatus
    late: bool
    attempts: int
    sent_at: datetime | None
    error: str | None


class WebhookTestOut(BaseModel):
    ok: bool = Field(description="the receiver answered 2xx")
    status_code: int | None = Field(description="the receiver's HTTP status, when it answered")
    detail: str
