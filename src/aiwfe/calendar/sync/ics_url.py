"""A subscribed ICS URL (read-only): a conditional GET (If-None-Match / If-Modified-Since; 304 = nothing
new), the body checked with the import limits, and the calendar made to hold exactly the file's events.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass

import httpx

from aiwfe.calendar import ics
from aiwfe.calendar.sync.apply import mirror
from aiwfe.calendar.sync.context import SyncContext
from aiwfe.calendar.sync.remote import SyncFailed, host_label
from aiwfe.core import outbound


@dataclass
class Fetched:
    body: bytes | None  # None: not modified
    etag: str | None
    last_modified: str | None


async def fetch(ctx: SyncContext, url: str) -> Fetched:
    source = ctx.source
    headers = {"Accept": "text/calendar, */*;q=0.5"}
    if source.etag:
        headers["If-None-Match"] = source.etag
    if source.last_modified:
        headers["If-Modified-Since"] = source.last_modified
    limit = ctx.settings.calendar_import_max_bytes
    try:
        outbound.check_syntax(url)
    except outbound.Refused as exc:
        raise SyncFailed(f"the source URL {exc}") from None

    async def get() -> Fetched:
        async with ctx.remote.outbound.stream("GET", url, headers=headers) as response:
            if response.status_code == 304:
                return Fetched(None, source.etag, source.last_modified)
            response.raise_for_status()
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > limit:
                raise SyncFailed(f"the file at {host_label(url)} is larger than {limit} bytes")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body.extend(chunk)
                if len(body) > limit:
                    raise SyncFailed(f"the file at {host_label(url)} is larger than {limit} bytes")
            return Fetched(bytes(body), response.headers.get("ETag"), response.headers.get("Last-Modified"))

    try:
        return await ctx.remote.call(url, get)
    except httpx.InvalidURL:
        raise SyncFailed(f"{url!r} is not a valid URL") from None


async def sync(ctx: SyncContext) -> bool:
    """One run; True when the calendar's events changed."""
    url = ctx.calendar.source_url or ""
    fetched = await fetch(ctx, url)
    source = ctx.source
    source.etag, source.last_modified = fetched.etag, fetched.last_modified
    if fetched.body is None:
        return False
    digest = hashlib.sha256(fetched.body).hexdigest()
    if digest == source.ctag:
        return False  # served again without validators, but the same bytes
    try:
        parsed = await asyncio.to_thread(
            ics.parse,
            fetched.body,
            default_tz=ctx.calendar.time_zone,
            **ctx.ics_limits,
        )
    except ics.IcsError as exc:
        raise SyncFailed(f"the file at {host_label(url)} is not a usable calendar: {exc}") from None
    changed = await mirror(ctx.db, ctx.calendar.id, parsed.events, budget=ctx.budget)
    source.ctag = digest
    return changed
