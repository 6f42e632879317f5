"""The URL space of the CalDAV server, and reading request paths and hrefs into targets.

/dav/                                   root (current-user-principal)
/dav/principals/<user id>/              the principal (calendar-home-set)
/dav/calendars/<user id>/               the calendar home
/dav/calendars/<user id>/<calendar>/    a calendar collection (its id; MKCALENDAR may choose any name)
/dav/calendars/<user id>/<calendar>/<name>.ics   a calendar object resource (one UID)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, unquote, urlsplit

from aiwfe.caldav.errors import DavForbidden, DavNotFound

PREFIX = "/dav"
WELL_KNOWN = "/.well-known/caldav"
# Collection names a client chose at MKCALENDAR map to stable calendar ids.
NAMES = uuid.UUID("62c07442-f210-4093-b02f-a97601fa92e8")
_SAFE = "@:+,;=!$&'()*~"
Kind = Literal["root", "principal", "home", "calendar", "object"]


@dataclass(frozen=True)
class Target:
    kind: Kind
    user_id: uuid.UUID | None = None
    calendar_id: uuid.UUID | None = None
    name: str | None = None


def calendar_id_of(user_id: uuid.UUID, segment: str) -> uuid.UUID:
    try:
        return uuid.UUID(segment)
    except ValueError:
        return uuid.uuid5(NAMES, f"{user_id}/{segment}")


def _segment(value: str) -> str:
    return quote(value, safe=_SAFE)


def root_href() -> str:
    return f"{PREFIX}/"


def principal_href(user_id: uuid.UUID) -> str:
    return f"{PREFIX}/principals/{user_id}/"


def home_href(user_id: uuid.UUID) -> str:
    return f"{PREFIX}/calendars/{user_id}/"


def calendar_href(user_id: uuid.UUID, calendar_id: uuid.UUID) -> str:
    return f"{home_href(user_id)}{calendar_id}/"


def object_href(user_id: uuid.UUID, calendar_id: uuid.UUID, name: str) -> str:
    return f"{calendar_href(user_id, calendar_id)}{_segment(name)}"


def read(raw_path: str, user_id: uuid.UUID) -> Target:
    """The target of a request path or an href (percent-encoded; a full URL's path is used)."""
    path = urlsplit(raw_path).path if "://" in raw_path else raw_path
    if path.rstrip("/") == PREFIX:
        return Target("root")
    if not path.startswith(PREFIX + "/"):
        raise DavNotFound(f"{path} is not on this CalDAV server")
    parts = path[len(PREFIX) + 1 :].split("/")
    if parts and parts[-1] == "":
        parts.pop()
    segments = [unquote(part) for part in parts]
    if not segments or segments[0] not in ("principals", "calendars") or len(segments) < 2:
        raise DavNotFound(f"nothing at {path}")
    try:
        owner = uuid.UUID(segments[1])
    except ValueError:
        raise DavNotFound(f"nothing at {path}") from None
    if owner != user_id:
        raise DavForbidden("this belongs to another account")
    if segments[0] == "principals":
        if len(segments) != 2:
            raise DavNotFound(f"nothing at {path}")
        return Target("principal", owner)
    if len(segments) == 2:
        return Target("home", owner)
    calendar_id = calendar_id_of(owner, segments[2])
    if len(segments) == 3:
        return Target("calendar", owner, calendar_id)
    if len(segments) == 4 and segments[3]:
        return Target("object", owner, calendar_id, segments[3])
    raise DavNotFound(f"nothing at {path}")
