"""The CalDAV methods that write: PUT and DELETE of event resources (with If-Match / If-None-Match),
DELETE of a calendar, MKCALENDAR (and extended MKCOL), and PROPPATCH of a calendar's name and colour."""

from __future__ import annotations

from fastapi import Response

from aiwfe.caldav import paths, xml
from aiwfe.caldav.context import MAX_ICS_BYTES, Context, multistatus_response
from aiwfe.caldav.errors import (
    BadDavRequest,
    DavForbidden,
    DavMethodNotAllowed,
    DavPrecondition,
    DavUnsupportedMediaType,
)
from aiwfe.caldav.xml import CALDAV, DAV, ICAL, children, element, tag
from aiwfe.calendar.recurrence import is_zone
from aiwfe.calendar.schemas import CalendarPatch


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
        return multistatus_response(out)
    if changes:
        await ctx.service.calendars.update_calendar(ctx.user.id, calendar.id, CalendarPatch(**changes))
    xml.response(out, href, [element(name) for name in accepted])
    return multistatus_response(out)
