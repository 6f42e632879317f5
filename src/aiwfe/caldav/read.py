"""The CalDAV methods that read: PROPFIND (properties of the root, principal, home, calendars and their
events) and GET / HEAD of a calendar (its .ics) or of one event resource."""

from __future__ import annotations

from fastapi import Response
from lxml import etree

from aiwfe.caldav import ical, paths, props, xml
from aiwfe.caldav.context import MAX_ICS_BYTES, MAX_XML_BYTES, Context, multistatus_response, prop_names
from aiwfe.caldav.errors import BadDavRequest, DavMethodNotAllowed
from aiwfe.caldav.service import DavService, Resource
from aiwfe.caldav.xml import DAV, children, tag
from aiwfe.calendar.models import Calendar
from aiwfe.core.etags import etag_matches


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
            wanted = prop_names(kinds[0])
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
        if depth == "1":

            async def build(calendar: Calendar) -> bytes:
                add(
                    paths.calendar_href(user.id, calendar.id), props.collection(user, calendar, MAX_ICS_BYTES)
                )
                for resource in await service.resources(calendar):
                    add(ctx.object_href(calendar, resource), object_props(service, calendar, resource))
                return xml.serialize(out)

            return await ctx.cached(data, build)
        calendar = await ctx.calendar()
        add(paths.calendar_href(user.id, calendar.id), props.collection(user, calendar, MAX_ICS_BYTES))
    else:
        calendar = await ctx.calendar()
        resource = await ctx.resource(calendar)
        add(ctx.object_href(calendar, resource), object_props(service, calendar, resource))
    return multistatus_response(out)


def object_props(
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
