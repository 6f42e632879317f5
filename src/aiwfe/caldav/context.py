"""One CalDAV request as the handlers see it: the caller, the target path, the body read within its
limit, the Depth header, the calendar, and the cache of answers that depend only on a calendar's state."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from lxml import etree

from aiwfe.auth.models import User
from aiwfe.caldav import paths, xml
from aiwfe.caldav.errors import (
    BadDavRequest,
    DavMethodNotAllowed,
    DavNotFound,
    DavPrecondition,
    DavTooLarge,
)
from aiwfe.caldav.service import DavService, Resource
from aiwfe.caldav.xml import DAV, XML_TYPE, children
from aiwfe.calendar.models import Calendar

MAX_XML_BYTES = 1024 * 1024
MAX_ICS_BYTES = 1024 * 1024
CACHE_FORMAT = "caldav-1"


class Context:
    def __init__(self, request: Request, user: User, service: DavService, target: paths.Target) -> None:
        self.request = request
        self.user = user
        self.service = service
        self.target = target
        self._calendar: Calendar | None = None

    async def body(self, limit: int) -> bytes:
        declared = self.request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise DavTooLarge(f"the body is larger than {limit} bytes")
        data = bytearray()
        async for chunk in self.request.stream():
            data.extend(chunk)
            if len(data) > limit:
                raise DavTooLarge(f"the body is larger than {limit} bytes")
        return bytes(data)

    async def xml_body(self, *, required: bool) -> etree._Element | None:
        data = await self.body(MAX_XML_BYTES)
        if not data.strip() and not required:
            return None
        return xml.parse(data)

    def depth(self, default: str, allowed: tuple[str, ...] = ("0", "1")) -> str:
        value = self.request.headers.get("depth", default).strip().lower()
        if value not in ("0", "1", "infinity"):
            raise BadDavRequest(f"Depth must be 0, 1 or infinity, not {value!r}")
        if value not in allowed:
            if value == "infinity" and self.request.method == "PROPFIND":
                raise DavPrecondition(403, DAV, "propfind-finite-depth", "Depth: infinity is not supported")
            raise BadDavRequest(f"Depth {value} does not apply to this request")
        return value

    async def calendar(self) -> Calendar:
        if self._calendar is None:
            target = self.target
            if target.calendar_id is None:
                raise DavMethodNotAllowed("this is not a calendar collection")
            self._calendar = await self.service.calendars.calendar(self.user.id, target.calendar_id)
        return self._calendar

    async def resource(self, calendar: Calendar) -> Resource:
        assert self.target.name is not None
        found = await self.service.resource(calendar, self.target.name)
        if found is None:
            raise DavNotFound(f"no resource {self.target.name}")
        return found

    def object_href(self, calendar: Calendar, resource: Resource) -> str:
        return paths.object_href(self.user.id, calendar.id, resource.name)

    async def cached(self, body: bytes, build: Callable[[Calendar], Awaitable[bytes]]) -> Response:
        """A multistatus that depends only on the target calendar's state, cached under its version.

        A hit costs one statement (the version, as the month view's ETag does) and no ORM load; the
        calendar is loaded for ``build`` on a miss only. The key names the user, the calendar, its
        version and the whole request, so a write is seen by the next request and no one else's
        answer is ever served."""
        target = self.target
        if target.calendar_id is None:
            raise DavMethodNotAllowed("this is not a calendar collection")
        version = await self.service.calendars.calendar_version(self.user.id, target.calendar_id)
        key = hashlib.sha256(
            b"\0".join(
                [
                    CACHE_FORMAT.encode(),
                    str(self.user.id).encode(),
                    str(target.calendar_id).encode(),
                    str(version).encode(),
                    self.request.method.encode(),
                    self.request.headers.get("depth", "").encode(),
                    self.request.url.path.encode(),
                    body,
                ]
            )
        ).hexdigest()[:40]

        async def load_and_build() -> bytes:
            return await build(await self.calendar())

        data = await self.service.occurrences.pages.get_or_build("dav" + key, load_and_build)
        return Response(data, status_code=207, media_type=XML_TYPE)


def prop_names(node: etree._Element | None) -> list[str]:
    return [child.tag for child in children(node)] if node is not None else []


def multistatus_response(root: etree._Element) -> Response:
    return Response(xml.serialize(root), status_code=207, media_type=XML_TYPE)
