"""The CalDAV REPORTs: calendar-query (with time ranges and <C:expand>) and calendar-multiget, cached
under the calendar's version; sync-collection (RFC 6578) and free-busy-query."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import Response
from lxml import etree

from aiwfe.caldav import ical, paths, props, xml
from aiwfe.caldav.context import MAX_XML_BYTES, Context, multistatus_response, prop_names
from aiwfe.caldav.errors import BadDavRequest, DavForbidden, DavNotFound, DavPrecondition
from aiwfe.caldav.query import TimeRange, read_filter, time_range
from aiwfe.caldav.read import object_props
from aiwfe.caldav.service import Resource
from aiwfe.caldav.xml import CALDAV, DAV, children, tag
from aiwfe.calendar.models import Calendar


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
    return prop_names(prop), window


async def report(ctx: Context) -> Response:
    data = await ctx.body(MAX_XML_BYTES)
    root = xml.parse(data)
    kind = root.tag
    if ctx.target.kind not in ("calendar", "object"):
        raise DavPrecondition(403, DAV, "supported-report", "reports run on a calendar collection")
    if kind == tag(DAV, "sync-collection"):
        # RFC 6578 defines the report for Depth 0; clients (python caldav) send 1, which means the same.
        ctx.depth("0", ("0", "1"))
        if ctx.target.kind != "calendar":
            raise DavPrecondition(
                403, DAV, "supported-report", "sync-collection runs on a calendar collection"
            )
        return await _sync_collection(ctx, await ctx.calendar(), root)
    ctx.depth("0", ("0", "1", "infinity"))
    if kind == tag(CALDAV, "free-busy-query"):
        return await _free_busy(ctx, await ctx.calendar(), root)
    if kind == tag(CALDAV, "calendar-query"):
        wanted_filter = read_filter(next((c for c in children(root) if c.tag == tag(CALDAV, "filter")), None))
        wanted, window = _report_props(root)

        async def build_query(calendar: Calendar) -> bytes:
            found = await ctx.service.query(calendar, wanted_filter)
            if ctx.target.kind == "object":
                found = [r for r in found if r.name == ctx.target.name]
            return await _objects(ctx, calendar, found, wanted, window)

        return await ctx.cached(data, build_query)
    if kind == tag(CALDAV, "calendar-multiget"):
        wanted, window = _report_props(root)
        hrefs = [child.text or "" for child in children(root) if child.tag == tag(DAV, "href")]
        if not hrefs:
            raise BadDavRequest("a calendar-multiget names at least one DAV:href")

        async def build_multiget(calendar: Calendar) -> bytes:
            return await _multiget(ctx, calendar, hrefs, wanted, window)

        return await ctx.cached(data, build_multiget)
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
        available = object_props(ctx.service, calendar, resource, expanded)
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
    return multistatus_response(out)


async def _free_busy(ctx: Context, calendar: Calendar, root: etree._Element) -> Response:
    node = next((c for c in children(root) if c.tag == tag(CALDAV, "time-range")), None)
    if node is None:
        raise BadDavRequest("a free-busy-query needs a time-range")
    window = time_range(node)
    found = await ctx.service.free_busy(ctx.user.id, calendar, window)
    return Response(ical.free_busy(found, datetime.now(UTC)), media_type=ical.CONTENT_TYPE)
