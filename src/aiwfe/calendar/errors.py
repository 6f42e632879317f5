"""The calendar domain's errors, each mapped to one HTTP problem by the shared handler."""

from __future__ import annotations

from aiwfe.core.errors import AppError, ConflictError, NotFoundError


class CalendarNotFound(NotFoundError):
    code = "calendar-not-found"
    title = "Calendar not found"


class EventNotFound(NotFoundError):
    code = "event-not-found"
    title = "Event not found"


class ImportNotFound(NotFoundError):
    code = "import-not-found"
    title = "Import not found"


class FeedNotFound(NotFoundError):
    code = "feed-not-found"
    title = "Feed not found"


class InvalidEvent(AppError):
    """Input that parses but cannot be used (a bad rule, an unknown zone, end before start...)."""

    status = 422
    code = "invalid-event"
    title = "The event is not valid"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", field=field)


class InvalidQuery(AppError):
    status = 422
    code = "invalid-query"
    title = "The query is not valid"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", field=field)


class UidTaken(ConflictError):
    code = "uid-taken"
    title = "An event with this UID exists in the calendar"


class PreconditionFailed(AppError):
    status = 412
    code = "precondition-failed"
    title = "The resource has changed"


class ImportFailed(AppError):
    status = 422
    code = "import-failed"
    title = "The file cannot be imported"


class UploadTooLarge(AppError):
    status = 413
    code = "payload-too-large"
    title = "Payload too large"


class TooManyEvents(AppError):
    """A write would leave a calendar, or all of a user's calendars, holding more events than allowed."""

    status = 422
    code = "too-many-events"
    title = "Too many events"


class ExpansionTimeout(AppError):
    """A range query's recurring series took longer to expand than its deadline (``offload.py``); the
    request was valid and a retry goes on where it stopped, so it is the server's 503, not a 4xx."""

    status = 503
    code = "expansion-timeout"
    title = "Expanding the recurring events took too long"
