"""The CalDAV server's errors: plain HTTP problems, and protocol preconditions answered as ``DAV:error``."""

from __future__ import annotations

from aiwfe.core.errors import AppError

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"


class BadDavRequest(AppError):
    status = 400
    code = "bad-dav-request"
    title = "The WebDAV request is not valid"


class DavUnauthorized(AppError):
    status = 401
    code = "unauthenticated"
    title = "Authentication required"

    def __init__(self, detail: str) -> None:
        # Devices show a password prompt only for a Basic challenge.
        super().__init__(detail, headers={"WWW-Authenticate": 'Basic realm="aiwfe CalDAV", charset="UTF-8"'})


class DavForbidden(AppError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class DavNotFound(AppError):
    status = 404
    code = "not-found"
    title = "Not found"


class DavMethodNotAllowed(AppError):
    status = 405
    code = "method-not-allowed"
    title = "Method not allowed"


class DavConflict(AppError):
    status = 409
    code = "conflict"
    title = "Conflict"


class DavPreconditionFailed(AppError):
    status = 412
    code = "precondition-failed"
    title = "The resource has changed"


class DavTooLarge(AppError):
    status = 413
    code = "payload-too-large"
    title = "Payload too large"


class DavUnsupportedMediaType(AppError):
    status = 415
    code = "unsupported-media-type"
    title = "Unsupported media type"


class DavPrecondition(Exception):
    """A failed RFC 4791/6578 precondition: answered with ``<D:error><ns:name/></D:error>``, which clients
    read to decide what to do (e.g. a stale sync token makes DAVx⁵ sync from scratch)."""

    def __init__(self, status: int, namespace: str, name: str, detail: str, href: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.namespace = namespace
        self.name = name
        self.detail = detail
        self.href = href
