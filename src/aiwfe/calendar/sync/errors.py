"""Errors of calendar sync that reach the API, each mapped to one HTTP problem by the shared handler."""

from __future__ import annotations

from aiwfe.core.errors import ConflictError


class CalendarReadOnly(ConflictError):
    code = "calendar-read-only"
    title = "The calendar is read-only"


class NotSynced(ConflictError):
    code = "calendar-not-synced"
    title = "The calendar has no sync source"
