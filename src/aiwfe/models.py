"""Imports every domain's models so ``Base.metadata`` knows all tables (Alembic, tests)."""

from aiwfe.auth.models import AccessToken, AuditEvent, EmailToken, Invite, RecoveryCode, User
from aiwfe.caldav.models import Change, ResourceName
from aiwfe.calendar.models import Calendar, CalendarImport, Event
from aiwfe.calendar.reminders.models import Delivery, Notification, Reminder, ScanMark, Webhook
from aiwfe.calendar.sync.models import SyncItem, SyncSource
from aiwfe.core.canary import Canary
from aiwfe.oauth.models import OAuthAccount

__all__ = [
    "AccessToken",
    "AuditEvent",
    "Calendar",
    "CalendarImport",
    "Canary",
    "Change",
    "Delivery",
    "EmailToken",
    "Event",
    "Invite",
    "Notification",
    "OAuthAccount",
    "RecoveryCode",
    "Reminder",
    "ResourceName",
    "ScanMark",
    "SyncItem",
    "SyncSource",
    "User",
    "Webhook",
]
