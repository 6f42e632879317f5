"""The reminders domain's errors, each mapped to one HTTP problem by the shared handler."""

from __future__ import annotations

from aiwfe.core.errors import AppError, NotFoundError


class NotificationNotFound(NotFoundError):
    code = "notification-not-found"
    title = "Notification not found"


class InvalidReminders(AppError):
    status = 422
    code = "invalid-reminders"
    title = "The reminders are not valid"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", field=field)


class InvalidWebhook(AppError):
    status = 422
    code = "invalid-webhook"
    title = "The webhook is not valid"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", field=field)
