"""HTTP routes of the calendar domain: thin — parse, call one service method, shape the answer."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status

from aiwfe.auth.deps import Principal, require_scope, snapshot_writer
from aiwfe.auth.guards import verified_writer
from aiwfe.calendar.bodies import event_out
from aiwfe.calendar.deps import (
    calendar_service,
    calendar_stamps,
    event_service,
    occurrence_reader,
    occurrence_service,
)
from aiwfe.calendar.errors import InvalidQuery, UploadTooLarge
from aiwfe.calendar.events import EventService
from aiwfe.calendar.models import Calendar, CalendarImport, CalendarSource, ImportStatus
from aiwfe.calendar.occurrences import OccurrenceService, RangeQuery
from aiwfe.calendar.schemas import (
    CalendarIn,
    CalendarOut,
    CalendarPatch,
    EventIn,
    EventOut,
    EventPatch,
    FeedOut,
    FreeBusyOut,
    ImportOut,
    OccurrencePage,
    Scope,
)
from aiwfe.calendar.service import CalendarService
from aiwfe.calendar.sync import service as sync
from aiwfe.calendar.sync.deps import sync_enqueuer
from aiwfe.core.etags import etag_matches

calendars = APIRouter(prefix="/calendars", tags=["calendars"])
events = APIRouter(prefix="/events", tags=["events"])
freebusy = APIRouter(prefix="/freebusy", tags=["calendars"])
feeds = APIRouter(prefix="/feeds", tags=["calendars"])
routers = [calendars, events, freebusy, feeds]

ICS_TYPE = "text/calendar; charset=utf-8"
ICS_RESPONSE: dict[int | str, dict[str, object]] = {
    200: {"content": {"text/calendar": {"schema": {"type": "string"}}}, "description": "the calendar as .ics"}
}


def calendar_out(calendar: Calendar) -> CalendarOut:
    return CalendarOut(
        id=calendar.id,
        name=calendar.name,
        color=calendar.color,
        time_zone=calendar.time_zone,
        source=calendar.source,
        source_url=calendar.source_url,
        sync_status=calendar.sync_status,
        last_synced_at=calendar.last_synced_at,
        sync_error=calendar.sync_error,
        read_only=sync.is_read_only(calendar),
        feed_enabled=calendar.feed_token_hash is not None,
        version=calendar.version,
        created_at=calendar.created_at,
        updated_at=calendar.updated_at,
    )


def _quoted(tag: str) -> str:
    return f'"{tag}"'


def _ics_response(body: bytes, calendar: Calendar, if_none_match: str | None, filename: str) -> Response:
    tag = f"{calendar.id.hex}-{calendar.version}"
    headers = {"ETag": _quoted(tag), "Cache-Control": "private, max-age=300"}
    if etag_matches(if_none_match, tag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return Response(body, media_type=ICS_TYPE, headers=headers)


# ---- calendars -------------------------------------------------------------------------------------


@calendars.get("", response_model=list[CalendarOut])
async def list_calendars(
    principal: Principal = Depends(require_scope("read")),
    service: CalendarService = Depends(calendar_service),
) -> list[CalendarOut]:
    return [calendar_out(c) for c in await service.list_calendars(principal.user.id)]


@calendars.post("", status_code=status.HTTP_201_CREATED, response_model=CalendarOut)
async def create_calendar(
    body: CalendarIn,
    principal: Principal = Depends(snapshot_writer),
    service: CalendarService = Depends(calendar_service),
    enqueue_sync: sync.EnqueueSync = Depends(sync_enqueuer),
) -> CalendarOut:
    """A local calendar, or one synced from an ICS URL, CalDAV or Google (its first sync is enqueued)."""
    if body.source is not CalendarSource.LOCAL:
        created = await sync.create_synced(
            service.db, service.settings, principal.user.id, body, enqueue_sync
        )
        return calendar_out(created)
    return calendar_out(await service.create_calendar(principal.user.id, body))


@calendars.post("/{calendar_id}/sync", status_code=status.HTTP_202_ACCEPTED, response_model=CalendarOut)
async def sync_calendar(
    calendar_id: uuid.UUID,
    principal: Principal = Depends(require_scope("write")),
    service: CalendarService = Depends(calendar_service),
    enqueue_sync: sync.EnqueueSync = Depends(sync_enqueuer),
) -> CalendarOut:
    """Sync now (a worker runs it); 409 for a local calendar. Poll the calendar for the outcome."""
    calendar = await service.calendar(principal.user.id, calendar_id)
    return calendar_out(await sync.request_sync(service.db, calendar, enqueue_sync))


@calendars.get("/{calendar_id}", response_model=CalendarOut)
async def get_calendar(
    calendar_id: uuid.UUID,
    principal: Principal = Depends(require_scope("read")),
    service: CalendarService = Depends(calendar_service),
) -> CalendarOut:
    return calendar_out(await service.calendar(principal.user.id, calendar_id))


@calendars.patch("/{calendar_id}", response_model=CalendarOut)
async def update_calendar(
    calendar_id: uuid.UUID,
    body: CalendarPatch,
    principal: Principal = Depends(require_scope("write")),
    service: CalendarService = Depends(calendar_service),
) -> CalendarOut:
    return calendar_out(await service.update_calendar(principal.user.id, calendar_id, body))


@calendars.delete("/{calendar_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_calendar(
    calendar_id: uuid.UUID,
    principal: Principal = Depends(require_scope("write")),
    service: CalendarService = Depends(calendar_service),
) -> None:
    await service.delete_calendar(principal.user.id, calendar_id)


@calendars.put("/{calendar_id}/feed", response_model=FeedOut)
async def enable_feed(
    calendar_id: uuid.UUID,
    request: Request,
    principal: Principal = Depends(verified_writer),
    service: CalendarService = Depends(calendar_service),
) -> FeedOut:
    """A new secret subscription URL (the previous one, if any, stops working)."""
    token = await service.enable_feed(principal.user.id, calendar_id)
    path = request.app.url_path_for("calendar_feed", token=token)
    return FeedOut(url=service.settings.public_url.rstrip("/") + path, token=token)


@calendars.delete("/{calendar_id}/feed", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_feed(
    calendar_id: uuid.UUID,
    principal: Principal = Depends(require_scope("write")),
    service: CalendarService = Depends(calendar_service),
) -> None:
    await service.revoke_feed(principal.user.id, calendar_id)


@calendars.get("/{calendar_id}/export", response_class=Response, responses=ICS_RESPONSE)
async def export_calendar(
    calendar_id: uuid.UUID,
    if_none_match: str | None = Header(default=None),
    principal: Principal = Depends(require_scope("read")),
    service: CalendarService = Depends(calendar_service),
) -> Response:
    calendar = await service.calendar(principal.user.id, calendar_id)
    return _ics_response(await service.export_ics(calendar), calendar, if_none_match, "calendar.ics")


async def _read_upload(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise UploadTooLarge(f"the file is larger than {limit} bytes")
    data = bytearray()
    async for chunk in request.stream():
        data.extend(chunk)
        if len(data) > limit:
            raise UploadTooLarge(f"the file is larger than {limit} bytes")
    return bytes(data)


def import_out(job: CalendarImport) -> ImportOut:
    return ImportOut.model_validate(job)


@calendars.post(
    "/{calendar_id}/import",
    response_model=ImportOut,
    responses={202: {"model": ImportOut, "description": "a large file: imported by a background job"}},
    openapi_extra={
        "requestBody": {"required": True, "content": {"text/calendar": {"schema": {"type": "string"}}}}
    },
)
async def import_calendar(
    calendar_id: uuid.UUID,
    request: Request,
    response: Response,
    principal: Principal = Depends(snapshot_writer),
    service: CalendarService = Depends(calendar_service),
) -> ImportOut:
    """Import the .ics in the request body; events are matched by UID (a re-import replaces them)."""
    await service.check_owned(principal.user.id, calendar_id)  # before reading an upload that is not theirs
    data = await _read_upload(request, service.settings.calendar_import_max_bytes)
    job = await service.import_ics(principal.user.id, calendar_id, data)
    if job.status is ImportStatus.PENDING:
        response.status_code = status.HTTP_202_ACCEPTED
        response.headers["Location"] = str(
            request.url_for("import_status", calendar_id=calendar_id, import_id=job.id)
        )
    return import_out(job)


@calendars.get("/{calendar_id}/imports/{import_id}", response_model=ImportOut, name="import_status")
async def import_status(
    calendar_id: uuid.UUID,
    import_id: uuid.UUID,
    principal: Principal = Depends(require_scope("read")),
    service: CalendarService = Depends(calendar_service),
) -> ImportOut:
    return import_out(await service.import_status(principal.user.id, calendar_id, import_id))


@feeds.get("/{token}.ics", response_class=Response, name="calendar_feed", responses=ICS_RESPONSE)
async def calendar_feed(
    token: str = Path(min_length=16, max_length=128),
    if_none_match: str | None = Header(default=None),
    service: CalendarService = Depends(calendar_service),
) -> Response:
    """The calendar as .ics for subscribers (Apple, Google, Thunderbird): the secret token is the key."""
    calendar = await service.feed_calendar(token)
    return _ics_response(await service.export_ics(calendar), calendar, if_none_match, "calendar.ics")


# ---- events ----------------------------------------------------------------------------------------


def _event_response(response: Response, out: EventOut) -> EventOut:
    response.headers["ETag"] = _quoted(out.etag)
    return out


@events.get("", response_model=OccurrencePage)
async def list_occurrences(
    request: Request,
    start: datetime = Query(description="range start, with a UTC offset"),
    end: datetime = Query(description="range end (exclusive), with a UTC offset"),
    calendar: uuid.UUID | None = Query(default=None, description="only this calendar"),
    limit: int = Query(default=250, ge=1),
    cursor: str | None = Query(default=None, max_length=512),
    if_none_match: str | None = Header(default=None),
    principal: Principal = Depends(require_scope("read")),
) -> Response:
    """Occurrences overlapping [start, end) in my calendars, recurrences expanded, sorted by start."""
    async with occurrence_reader(request) as service:
        if limit > service.settings.calendar_page_size_max:
            raise InvalidQuery("limit", f"must be at most {service.settings.calendar_page_size_max}")
        query = RangeQuery(start=start, end=end, calendar_id=calendar, limit=limit, cursor=cursor)
        stamp = principal.calendar_stamp or await calendar_stamps(request.app.state).read(principal.user.id)
        tag = service.page_etag(principal.user.id, query, stamp)
        headers = {"ETag": _quoted(tag), "Cache-Control": "private, no-cache"}
        if etag_matches(if_none_match, tag):
            return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
        body = await service.occurrence_page(principal.user.id, query, tag)
    return Response(body, media_type="application/json", headers=headers)


@events.post("", status_code=status.HTTP_201_CREATED, response_model=EventOut)
async def create_event(
    body: EventIn,
    response: Response,
    principal: Principal = Depends(snapshot_writer),
    service: EventService = Depends(event_service),
) -> EventOut:
    return _event_response(response, event_out(await service.create_event(principal.user.id, body)))


@events.get("/{event_id}", response_model=EventOut)
async def get_event(
    event_id: uuid.UUID,
    response: Response,
    if_none_match: str | None = Header(default=None),
    principal: Principal = Depends(require_scope("read")),
    service: EventService = Depends(event_service),
) -> EventOut | Response:
    row = await service.event(principal.user.id, event_id)
    if etag_matches(if_none_match, row.etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": _quoted(row.etag)})
    return _event_response(response, event_out(row))


@events.patch("/{event_id}", response_model=EventOut)
async def update_event(
    event_id: uuid.UUID,
    body: EventPatch,
    response: Response,
    scope: Scope = Query(default="series", description="series | occurrence | following"),
    recurrence_id: str | None = Query(default=None, max_length=40, description="the occurrence's key"),
    if_match: str | None = Header(default=None),
    principal: Principal = Depends(snapshot_writer),
    service: EventService = Depends(event_service),
) -> EventOut:
    """Edit the whole series, one occurrence, or this and the following ones (the series is split)."""
    row = await service.update_event(
        principal.user.id, event_id, body, scope=scope, recurrence_id=recurrence_id, if_match=if_match
    )
    return _event_response(response, event_out(row))


@events.delete("/{event_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_event(
    event_id: uuid.UUID,
    scope: Scope = Query(default="series", description="series | occurrence | following"),
    recurrence_id: str | None = Query(default=None, max_length=40),
    if_match: str | None = Header(default=None),
    principal: Principal = Depends(snapshot_writer),
    service: EventService = Depends(event_service),
) -> None:
    await service.delete_event(
        principal.user.id, event_id, scope=scope, recurrence_id=recurrence_id, if_match=if_match
    )


# ---- free/busy -------------------------------------------------------------------------------------


@freebusy.get("", response_model=FreeBusyOut)
async def free_busy(
    start: datetime = Query(description="range start, with a UTC offset"),
    end: datetime = Query(description="range end (exclusive), with a UTC offset"),
    calendar: uuid.UUID | None = Query(default=None, description="only this calendar"),
    principal: Principal = Depends(require_scope("read")),
    service: OccurrenceService = Depends(occurrence_service),
) -> FreeBusyOut:
    return await service.free_busy(principal.user.id, start, end, calendar)
