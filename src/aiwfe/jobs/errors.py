"""The jobs domain's errors."""

from __future__ import annotations

from aiwfe.core.errors import AppError, NotFoundError


class JobNotFound(NotFoundError):
    pass


class InvalidCursor(AppError):
    status = 422
    code = "invalid-cursor"
    title = "The page cursor is not valid"


class TooManyStreams(AppError):
    status = 429
    code = "too-many-streams"
    title = "Too many open progress streams"
