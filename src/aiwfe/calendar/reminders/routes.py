"""HTTP routes of reminders: thin — parse, call one service method, shape the answer."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query

from aiwfe.auth.deps import Principal, require_scope
from aiwfe.auth.guards import verified_recently_authenticated
from aiwfe.calendar.reminders.deps import reminder_service
from aiwfe.calendar.reminders.schemas import (
    MAX_REMINDERS,
    MarkedRead,
    NotificationOut,
    NotificationPage,
    ReminderIn,
    ReminderOut,
    WebhookDeliveryOut,
    WebhookIn,
    WebhookOut,
    WebhookTestOut,
)
from aiwfe.calendar.reminders.service import ReminderService

events = APIRouter(prefix="/events", tags=["reminders"])
notifications = APIRouter(prefix="/notifications", tags=["reminders"])
hooks = APIRouter(prefix="/reminders", tags=["reminders"])
routers = [events, notifications, hooks]


@events.get("/{event_id}/reminders", response_model=list[ReminderOut])
async def get_reminders(
    event_id: uuid.UUID,
    principal: Principal = Depends(require_scope("read")),
    service: ReminderService = Depends(reminder_service),
) -> list[ReminderOut]:
    """The reminders of the event's series (an override's id stands for its series)."""
    return await service.reminders(principal.user.id, event_id)


@events.put("/{event_id}/reminders", response_model=list[ReminderOut])
async def set_reminders(
    event_id: uuid.UUID,
    body: Annotated[list[ReminderIn], Body(max_length=MAX_REMINDERS)],
    principal: Principal = Depends(require_scope("write")),
    service: ReminderService = Depends(reminder_service),
) -> list[ReminderOut]:
    """Replace the reminders: at most 10, each ``minutes_before`` 0..40320 through one channel."""
    return await service.set_reminders(principal.user.id, event_id, body)


@notifications.get("", response_model=NotificationPage)
async def list_notifications(
    limit: int = Query(default=50, ge=1, le=200),
    cursor: str | None = Query(default=None, max_length=200),
    unread: bool = Query(default=False, description="only unread ones"),
    principal: Principal = Depends(require_scope("read")),
    service: ReminderService = Depends(reminder_service),
) -> NotificationPage:
    return await service.notifications(principal.user.id, limit=limit, cursor=cursor, unread_only=unread)


@notifications.post("/{notification_id}/read", response_model=NotificationOut)
async def mark_read(
    notification_id: uuid.UUID,
    principal: Principal = Depends(require_scope("write")),
    service: ReminderService = Depends(reminder_service),
) -> NotificationOut:
    return await service.mark_read(principal.user.id, notification_id)


@notifications.post("/read-all", response_model=MarkedRead)
async def mark_all_read(
    principal: Principal = Depends(require_scope("write")),
    service: ReminderService = Depends(reminder_service),
) -> MarkedRead:
    return MarkedRead(marked=await service.mark_all_read(principal.user.id))


@hooks.get("/webhook", response_model=WebhookOut)
async def get_webhook(
    principal: Principal = Depends(require_scope("read")),
    service: ReminderService = Depends(reminder_service),
) -> WebhookOut:
    """The webhook URL (the secret is never shown again after it was made)."""
    return await service.webhook(principal.user.id)


@hooks.post("/webhook", response_model=WebhookOut)
async def configure_webhook(
    body: WebhookIn,
    principal: Principal = Depends(verified_recently_authenticated),
    service: ReminderService = Depends(reminder_service),
) -> WebhookOut:
    """Set the URL (``null`` disables) and/or rotate the signing secret (a new one is in this answer only)."""
    return await service.configure_webhook(
        principal.user.id, body.url, set_url="url" in body.model_fields_set, rotate_secret=body.rotate_secret
    )


@hooks.get("/webhook/deliveries", response_model=list[WebhookDeliveryOut])
async def webhook_deliveries(
    limit: int = Query(default=20, ge=1, le=100),
    principal: Principal = Depends(require_scope("read")),
    service: ReminderService = Depends(reminder_service),
) -> list[WebhookDeliveryOut]:
    """The latest reminders sent to the webhook, newest due first, with their status and last error."""
    return await service.webhook_deliveries(principal.user.id, limit)


@hooks.post("/webhook/test", response_model=WebhookTestOut)
async def send_test_webhook(
    principal: Principal = Depends(require_scope("write")),
    service: ReminderService = Depends(reminder_service),
) -> WebhookTestOut:
    """POST a signed ``{"type": "webhook.test"}`` body to the URL now; a refusal is ``ok: false``."""
    return await service.send_test_webhook(principal.user.id)
