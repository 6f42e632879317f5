"""HTTP side of the CalDAV server: one route for every WebDAV method under ``/dav/``, and the RFC 6764
``/.well-known/caldav`` redirect. Parses the request, calls the CalDAV service, writes the XML answer."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from lxml import etree
from sqlalchemy.ext.asyncio import AsyncSession

from aiwfe.auth.models import User
from aiwfe.caldav import ical, paths, props, xml
from aiwfe.caldav.auth import authenticate
from aiwfe.caldav.errors import (
    BadDavRequest,
    DavForbidden,
    DavMethodNotAllowed,
    DavNotFound,
    DavPrecondition,
    DavTooLarge,
    DavUnsupportedMediaType,
)
from aiwfe.caldav.query import TimeRange, read_filter, time_range
from aiwfe.caldav.service import DavService, Resource
from aiwfe.caldav.xml import CALDAV, DAV, ICAL, XML_TYPE, children, element, tag
from aiwfe.calendar.deps import calendar_service
from aiwfe.calendar.models import Calendar
from aiwfe.calendar.recurrence import is_zone
from aiwfe.calendar.schemas import CalendarPatch
from aiwfe.calendar.service import CalendarService
from aiwfe.core.db import get_session
from aiwfe.core.etags import etag_matches

METHODS = [
    "OPTIONS",
    "PROPFIND",
    "PROPPATCH",
    "REPORT",
    "GET",
    "HEAD",
    "PUT",
    "DELETE",
    "MKCALENDAR",
    "MKCOL",
]
DAV_HEADERS = {"DAV": "1, 3, calendar-access", "Allow": ", ".join(METHODS)}
MAX_XML_BYTES = 1024 * 1024
MAX_ICS_BYTES = 1024 * 1024
CACHE_FORMAT = "caldav-1"

router = APIRouter(include_in_schema=False)
routers = [router]


@router.api_route(paths.WELL_KNOWN, methods=["GET", "HEAD", "PROPFIND", "OPTIONS"])
async def well_known() -> Response:
    """RFC 6764: clients given only the host find the server's context path here."""
    return RedirectResponse(paths.root_href(), status_code=301)


@router.api_route(paths.PREFIX, methods=METHODS)
@router.api_route(paths.PREFIX + "/{path:path}", methods=METHODS)
async def dav(
    request: Request,
    db: AsyncSession = Depends(get_session),
    calendars: CalendarService = Depends(calendar_service),
) -> Response:
    if request.method == "OPTIONS":
        return Response(status_code=200, headers=DAV_HEADERS)
    user = await authenticate(request, db)
    handler = HANDLERS.get(request.method)
    if handler is None:
        raise DavMethodNotAllowed(f"{request.method} is not supported")
    raw = request.scope.get("raw_path") or request.url.path.encode()
    target = paths.read(raw.decode("latin-1"), user.id)
    context = Context(request, user, DavService(db, calendars), target)
    try:
        return await handler(context)
    except DavPrecondition as failed:
        return Response(
            xml.error(failed.namespace, failed.name, failed.href),
            status_code=failed.status,
            media_type=XML_TYPE,
        )


class Context:
    def __init__(self, request: Request, user: User, service: DavService, target: paths.Target) -> None:
        self.request = request
        self.user = user
        self.service = service
        self.target = target

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
        target = self.target
        if target.calendar_id is None:
            raise DavMethodNotAllowed("this is not a calendar collection")
        return await self.service.calendars.calendar(self.user.id, target.calendar_id)

    async def resource(self, calendar: Calendar) -> Resource:
        assert self.target.name is not None
        found = await self.service.resource(calendar, self.target.name)
        if found is None:
            raise DavNotFound(f"no resource {self.target.name}")
        return found

    def object_href(self, calendar: Calendar, resource: Resource) -> str:
        return paths.object_href(self.user.id, calendar.id, resource.name)

    async def cached(
        self, calendar: Calendar, body: bytes, build: Callable[[], Awaitable[bytes]]
    ) -> Response:
        """A multistatus that depends only on the calendar's state, cached under its version."""
        key = hashlib.sha256(
            b"\0".join(
                [
                    CACHE_FORMAT.encode(),
                    str(self.user.id).encode(),
                    str(calendar.id).encode(),
                    str(calendar.version).encode(),
                    self.request.method.encode(),
                    self.request.headers.get("depth", "").encode(),
                    self.request.url.path.encode(),
                    body,
                ]
            )
        ).hexdigest()[:40]
        data = await self.service.calendars.pages.get_or_build("dav" + key, build)
        return Response(data, status_code=207, media_type=XML_TYPE)


def _prop_names(node: etree._Element | None) -> list[str]:
    return [child.tag for child in children(node)] if node is not None else []


def _multistatus_response(root: etree._Element) -> Response:
    return Response(xml.serialize(root), status_code=207, media_type=XML_TYPE)


# ---- PROPFIND --------------------------------------------------------------------------------------


async def propfind(ctx: Context) -> Response:
    depth = ctx.depth("0")
    data = await ctx.body(MAX_XML_BYTES)
    wanted: list[str] | None = None
    names_only = False
    if data.strip():
        root = xml.parse(data)
        if root.tag != tag(DAV, "propfind"):
            raise BadDavRequest("the body must be a DAV:propfind")
        kinds = children(root)
        if not kinds:
            raise BadDavRequest("a propfind names prop, allprop or propname")
        if kinds[0].tag == tag(DAV, "prop"):
            wanted = _prop_names(kinds[0])
        elif kinds[0].tag == tag(DAV, "propname"):
            names_only = True
        elif kinds[0].tag != tag(DAV, "allprop"):
            raise BadDavRequest(f"unexpected {kinds[0].tag} in propfind")
    target, user, service = ctx.target, ctx.user, ctx.service
    out = xml.multistatus()

    def add(href: str, available: props.Props) -> None:
        if names_only:
            xml.response(out, href, [etree.Element(name) for name in available])
            return
        found, missing = props.pick(available, wanted)
        xml.response(out, href, found, missing)

    if target.kind == "root":
        add(paths.root_href(), props.root(user))
        if depth == "1":
            add(paths.principal_href(user.id), props.principal(user))
            add(paths.home_href(user.id), props.home(user))
    elif target.kind == "principal":
        add(paths.principal_href(user.id), props.principal(user))
    elif target.kind == "home":
        add(paths.home_href(user.id), props.home(user))
        if depth == "1":
            for calendar in await service.calendars.list_calendars(user.id):
                add(
                    paths.calendar_href(user.id, calendar.id), props.collection(user, calendar, MAX_ICS_BYTES)
                )
    elif target.kind == "calendar":
        calendar = await ctx.calendar()
        if depth == "1":

            async def build() -> bytes:
                add(
                    paths.calendar_href(user.id, calendar.id), props.collection(user, calendar, MAX_ICS_BYTES)
                )
                for resource in await service.resources(calendar):
                    add(ctx.object_href(calendar, resource), _object_props(service, calendar, resource))
                return xml.serialize(out)

            return await ctx.cached(calendar, data, build)
        add(paths.calendar_href(user.id, calendar.id), props.collection(user, calendar, MAX_ICS_BYTES))
    else:
        calendar = await ctx.calendar()
        resource = await ctx.resource(calendar)
        add(ctx.object_href(calendar, resource), _object_props(service, calendar, resource))
    return _multistatus_response(out)


def _object_props(
    service: DavService,
    calendar: Calendar,
    resource: Resource,
    expanded: dict[str, bytes] | None = None,
) -> props.Props:
    """The resource's properties; ``calendar-data`` is rendered once, on demand (expanded if given)."""
    rendered: list[bytes] = []

    def data() -> bytes:
        if not rendered:
            if expanded is not None:
                rendered.append(expanded[resource.uid])
            else:
                rendered.append(service.render(calendar, resource))
        return rendered[0]

    return props.calendar_object(resource, data)


# ---- REPORT ----------------------------------------------------------------------------------------


def _report_props(root: etree._Element) -> tuple[list[str] | None, TimeRange | None]:
    """The requested properties, and the window of a ``<C:calendar-data><C:expand/>`` if any."""
    prop = next((child for child in children(root) if child.tag == tag(DAV, "prop")), None)
    if prop is None:
        if any(child.tag == tag(DAV, "allprop") for child in children(root)):
            return None, None
        return [tag(DAV, "getetag")], None
    window = None
    for child in children(prop):
        if child.tag == tag(CALDAV, "calendar-data"):
            expand = next((c for c in children(child) if c.tag == tag(CALDAV, "expand")), None)
            if expand is not None:
                if expand.get("start") is None or expand.get("end") is None:
                    raise BadDavRequest("expand needs a start and an end")
                window = time_range(expand)
    return _prop_names(prop), window


async def report(ctx: Context) -> Response:
    data = await ctx.body(MAX_XML_BYTES)
    root = xml.parse(data)
    kind = root.tag
    if ctx.target.kind not in ("calendar", "object"):
        raise DavPrecondition(403, DAV, "supported-report", "reports run on a calendar collection")
    calendar = await ctx.calendar()
    if kind == tag(DAV, "sync-collection"):
        # RFC 6578 defines the report for Depth 0; clients (python caldav) send 1, which means the same.
        ctx.depth("0", ("0", "1"))
        if ctx.target.kind != "calendar":
            raise DavPrecondition(
                403, DAV, "supported-report", "sync-collection runs on a calendar collection"
            )
        return await _sync_collection(ctx, calendar, root)
    ctx.depth("0", ("0", "1", "infinity"))
    if kind == tag(CALDAV, "free-busy-query"):
        return await _free_busy(ctx, calendar, root)
    if kind == tag(CALDAV, "calendar-query"):
        wanted_filter = read_filter(next((c for c in children(root) if c.tag == tag(CALDAV, "filter")), None))
        wanted, window = _report_props(root)

        async def build_query() -> bytes:
            found = await ctx.service.query(calendar, wanted_filter)
            if ctx.target.kind == "object":
                found = [r for r in found if r.name == ctx.target.name]
            return await _objects(ctx, calendar, found, wanted, window)

        return await ctx.cached(calendar, data, build_query)
    if kind == tag(CALDAV, "calendar-multiget"):
        wanted, window = _report_props(root)
        hrefs = [child.text or "" for child in children(root) if child.tag == tag(DAV, "href")]
        if not hrefs:
            raise BadDavRequest("a calendar-multiget names at least one DAV:href")

        async def build_multiget() -> bytes:
            return await _multiget(ctx, calendar, hrefs, wanted, window)

        return await ctx.cached(calendar, data, build_multiget)
    raise DavPrecondition(403, DAV, "supported-report", f"the report {kind} is not supported")


async def _objects(
    ctx: Context,
    calendar: Calendar,
    found: list[Resource],
    wanted: list[str] | None,
    window: TimeRange | None,
    out: etree._Element | None = None,
) -> bytes:
    out = xml.multistatus() if out is None else out
    expanded = await ctx.service.expanded(calendar, found, window) if window is not None else None
    for resource in found:
        available = _object_props(ctx.service, calendar, resource, expanded)
        found_props, missing = props.pick(available, wanted)
        xml.response(out, ctx.object_href(calendar, resource), found_props, missing)
    return xml.serialize(out)


async def _multiget(
    ctx: Context, calendar: Calendar, hrefs: list[str], wanted: list[str] | None, window: TimeRange | None
) -> bytes:
    out = xml.multistatus()
    found: list[Resource] = []
    for value in hrefs:
        try:
            target = paths.read(value.strip(), ctx.user.id)
        except (DavNotFound, DavForbidden):
            target = None
        resource = None
        if (
            target is not None
            and target.kind == "object"
            and target.calendar_id == calendar.id
            and target.name
        ):
            resource = await ctx.service.resource(calendar, target.name)
        if resource is None:
            # A foreign or unknown href is answered on its own; nothing of it is read.
            xml.response(out, value.strip(), status=404)
        else:
            found.append(resource)
    return await _objects(ctx, calendar, found, wanted, window, out)


async def _sync_collection(ctx: Context, calendar: Calendar, root: etree._Element) -> Response:
    token_node = next((c for c in children(root) if c.tag == tag(DAV, "sync-token")), None)
    level = next((c for c in children(root) if c.tag == tag(DAV, "sync-level")), None)
    if level is None or (level.text or "").strip() != "1":
        raise BadDavRequest("sync-collection needs <D:sync-level>1</D:sync-level>")
    token = (token_node.text or "").strip() if token_node is not None else ""
    since = ctx.service.read_token(calendar, token) if token else None
    wanted, window = _report_props(root)
    changes = await ctx.service.changes(calendar, since)
    out = xml.multistatus()
    for name in changes.removed:
        xml.response(out, paths.object_href(ctx.user.id, calendar.id, name), status=404)
    await _objects(ctx, calendar, changes.changed, wanted, window, out)
    etree.SubElement(out, tag(DAV, "sync-token")).text = changes.token
    return _multistatus_response(out)


async def _free_busy(ctx: Context, calendar: Calendar, root: etree._Element) -> Response:
    node = next((c for c in children(root) if c.tag == tag(CALDAV, "time-range")), None)
    if node is None:
        raise BadDavRequest("a free-busy-query needs a time-range")
    window = time_range(node)
    found = await ctx.service.free_busy(ctx.user.id, calendar, window)
    return Response(ical.free_busy(found, datetime.now(UTC)), media_type=ical.CONTENT_TYPE)


# ---- GET, PUT, DELETE ------------------------------------------------------------------------------


async def get(ctx: Context) -> Response:
    calendar = await ctx.calendar()
    if ctx.target.kind == "calendar":
        data = await ctx.service.calendars.export_ics(calendar)
        return Response(data, media_type=ical.CONTENT_TYPE)
    if ctx.target.kind != "object":
        raise DavMethodNotAllowed("GET works on calendars and their events")
    resource = await ctx.resource(calendar)
    headers = {"ETag": resource.etag}
    if etag_matches(ctx.request.headers.get("if-none-match"), resource.etag):
        return Response(status_code=304, headers=headers)
    body = b"" if ctx.request.method == "HEAD" else ctx.service.render(calendar, resource)
    return Response(body, media_type=ical.CONTENT_TYPE, headers=headers)


async def put(ctx: Context) -> Response:
    if ctx.target.kind != "object" or ctx.target.name is None:
        raise DavMethodNotAllowed("PUT creates or replaces an event resource")
    calendar = await ctx.calendar()
    media = ctx.request.headers.get("content-type", "text/calendar").split(";")[0].strip().lower()
    if media != "text/calendar":
        raise DavUnsupportedMediaType("events are stored as text/calendar")
    data = await ctx.body(MAX_ICS_BYTES)
    href = paths.object_href(ctx.user.id, calendar.id, ctx.target.name)
    written = await ctx.service.put(
        calendar,
        ctx.target.name,
        data,
        href=href,
        if_match=ctx.request.headers.get("if-match"),
        if_none_match=ctx.request.headers.get("if-none-match"),
    )
    return Response(status_code=201 if written.created else 204, headers={"ETag": written.etag})


async def delete(ctx: Context) -> Response:
    calendar = await ctx.calendar()
    if ctx.target.kind == "calendar":
        await ctx.service.calendars.delete_calendar(ctx.user.id, calendar.id)
        return Response(status_code=204)
    if ctx.target.kind != "object":
        raise DavMethodNotAllowed("DELETE works on calendars and their events")
    resource = await ctx.resource(calendar)
    await ctx.service.delete(calendar, resource, if_match=ctx.request.headers.get("if-match"))
    return Response(status_code=204)


# ---- MKCALENDAR and PROPPATCH ----------------------------------------------------------------------


def _color(value: str) -> str:
    text = value.strip()
    if len(text) not in (7, 9) or not text.startswith("#"):
        raise ValueError
    int(text[1:], 16)
    return text[:7].lower()


async def mkcalendar(ctx: Context) -> Response:
    target = ctx.target
    if target.kind != "calendar" or target.calendar_id is None:
        raise DavForbidden("calendars are made inside your calendar home")
    root = await ctx.xml_body(required=ctx.request.method == "MKCOL")
    name, color, time_zone = "Calendar", "#3b82f6", "UTC"
    if root is not None:
        if root.tag not in (tag(CALDAV, "mkcalendar"), tag(DAV, "mkcol")):
            raise BadDavRequest("the body must be a CALDAV:mkcalendar (or an extended DAV:mkcol)")
        for prop in root.iter(tag(DAV, "prop")):
            for child in children(prop):
                if child.tag == tag(DAV, "displayname") and (child.text or "").strip():
                    name = (child.text or "").strip()[:200]
                elif child.tag == tag(ICAL, "calendar-color") and child.text:
                    try:
                        color = _color(child.text)
                    except ValueError:
                        raise BadDavRequest(f"calendar-color {child.text!r} is not #RRGGBB[AA]") from None
                elif child.tag == tag(CALDAV, "calendar-timezone") and child.text:
                    time_zone = _zone_of(child.text) or time_zone
                elif child.tag == tag(DAV, "resourcetype"):
                    if not any(c.tag == tag(CALDAV, "calendar") for c in children(child)):
                        raise DavForbidden("only calendar collections can be made here")
                elif child.tag == tag(CALDAV, "supported-calendar-component-set"):
                    kinds = {c.get("name", "").upper() for c in children(child)}
                    if "VEVENT" not in kinds:
                        raise DavPrecondition(
                            403, CALDAV, "supported-calendar-component", "this server stores VEVENTs only"
                        )
    elif ctx.request.method == "MKCOL":
        raise DavForbidden("only calendar collections can be made here")
    if await ctx.service.exists(target.calendar_id):
        mine = [c.id for c in await ctx.service.calendars.list_calendars(ctx.user.id)]
        if target.calendar_id in mine:
            raise DavMethodNotAllowed("a calendar exists at this address")
        raise DavForbidden("choose another name for the calendar")
    await ctx.service.create_calendar(ctx.user.id, target.calendar_id, name, color, time_zone)
    return Response(
        status_code=201, headers={"Location": paths.calendar_href(ctx.user.id, target.calendar_id)}
    )


def _zone_of(text: str) -> str | None:
    for line in text.splitlines():
        if line.upper().startswith("TZID:"):
            candidate = line[5:].strip()
            return candidate if is_zone(candidate) else None
    return None


async def proppatch(ctx: Context) -> Response:
    if ctx.target.kind != "calendar":
        raise DavForbidden("only a calendar's displayname and calendar-color can be changed")
    calendar = await ctx.calendar()
    root = await ctx.xml_body(required=True)
    assert root is not None
    if root.tag != tag(DAV, "propertyupdate"):
        raise BadDavRequest("the body must be a DAV:propertyupdate")
    changes: dict[str, str] = {}
    accepted: list[str] = []
    refused: list[str] = []
    for action in children(root):
        if action.tag not in (tag(DAV, "set"), tag(DAV, "remove")):
            raise BadDavRequest(f"unexpected {action.tag} in propertyupdate")
        for prop in (c for c in children(action) if c.tag == tag(DAV, "prop")):
            for child in children(prop):
                value = (child.text or "").strip()
                if action.tag == tag(DAV, "set") and child.tag == tag(DAV, "displayname") and value:
                    changes["name"] = value[:200]
                elif action.tag == tag(DAV, "set") and child.tag == tag(ICAL, "calendar-color"):
                    try:
                        changes["color"] = _color(value)
                    except ValueError:
                        refused.append(child.tag)
                        continue
                else:
                    refused.append(child.tag)
                    continue
                accepted.append(child.tag)
    out = xml.multistatus()
    href = paths.calendar_href(ctx.user.id, calendar.id)
    if refused:
        # All or nothing (RFC 4918 9.2): the acceptable ones fail because the others did.
        xml.response(out, href, extra_status={403: refused, 424: accepted})
        return _multistatus_response(out)
    if changes:
        await ctx.service.calendars.update_calendar(ctx.user.id, calendar.id, CalendarPatch(**changes))
    xml.response(out, href, [element(name) for name in accepted])
    return _multistatus_response(out)


Handler = Callable[[Context], Awaitable[Response]]
HANDLERS: dict[str, Handler] = {
    "PROPFIND": propfind,
    "PROPPATCH": proppatch,
    "REPORT": report,
    "GET": get,
    "HEAD": get,
    "PUT": put,
    "DELETE": delete,
    "MKCALENDAR": mkcalendar,
    "MKCOL": mkcalendar,
}
