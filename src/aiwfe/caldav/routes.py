"""HTTP side of the CalDAV server: one route for every WebDAV method under ``/dav/``, and the RFC 6764
``/.well-known/caldav`` redirect. Signs the caller in, reads the target path and hands the request to
the method's handler (``read``, ``reports``, ``write``), which writes the XML answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from aiwfe.caldav import paths, xml
from aiwfe.caldav.auth import authenticate
from aiwfe.caldav.context import Context
from aiwfe.caldav.errors import DavMethodNotAllowed, DavPrecondition
from aiwfe.caldav.read import get, propfind
from aiwfe.caldav.reports import report
from aiwfe.caldav.service import DavService
from aiwfe.caldav.write import delete, mkcalendar, proppatch, put
from aiwfe.caldav.xml import XML_TYPE
from aiwfe.calendar.deps import calendars_of, collaborators, occurrences_of, read_session

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

router = APIRouter(include_in_schema=False)
routers = [router]


@router.api_route(paths.WELL_KNOWN, methods=["GET", "HEAD", "PROPFIND", "OPTIONS"])
async def well_known() -> Response:
    """RFC 6764: clients given only the host find the server's context path here."""
    return RedirectResponse(paths.root_href(), status_code=301)


@router.api_route(paths.PREFIX, methods=METHODS)
@router.api_route(paths.PREFIX + "/{path:path}", methods=METHODS)
async def dav(request: Request) -> Response:
    if request.method == "OPTIONS":
        return Response(status_code=200, headers=DAV_HEADERS)
    # The database session is opened here, not through FastAPI's dependency tree (its exit stack per
    # request); it connects only when used: a cached answer to a signed-in device needs one statement.
    async with read_session(request) as db:
        deps = collaborators(request.app.state)
        try:
            return await _handle(request, DavService(db, calendars_of(db, deps), occurrences_of(db, deps)))
        except BaseException:
            await db.rollback()
            raise


async def _handle(request: Request, service: DavService) -> Response:
    user = await authenticate(request, service.db)
    handler = HANDLERS.get(request.method)
    if handler is None:
        raise DavMethodNotAllowed(f"{request.method} is not supported")
    raw = request.scope.get("raw_path") or request.url.path.encode()
    target = paths.read(raw.decode("latin-1"), user.id)
    try:
        return await handler(Context(request, user, service, target))
    except DavPrecondition as failed:
        return Response(
            xml.error(failed.namespace, failed.name, failed.href),
            status_code=failed.status,
            media_type=XML_TYPE,
        )
