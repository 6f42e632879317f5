"""A CalDAV collection, synced both ways with the ``caldav`` library's async client, whose every request
goes through our guarded outbound client (aiwfe.core.outbound: each connection and redirect hop checked).

Push first: a series edited here since the last sync (its rows' ETags no longer match what we recorded)
is PUT with ``If-Match`` on the remote ETag, a new one with ``If-None-Match: *``, a deleted one DELETEd
with ``If-Match``. A 412 means the remote changed too: the remote wins and comes back with the pull.
Then pull: nothing if the collection's ctag is unchanged, else the changes since our sync-token
(RFC 6578), or the whole listing when the server has no sync-collection or forgot the token.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from caldav.async_davclient import AsyncDAVClient
from caldav.elements.base import ValuedBaseElement
from caldav.lib import error as dav_error
from sqlalchemy import delete, select

from aiwfe.calendar import ics
from aiwfe.calendar.draft import EventDraft
from aiwfe.calendar.models import Event
from aiwfe.calendar.store import draft_of
from aiwfe.calendar.sync.apply import drop_series, put_series, series_hash, series_rows
from aiwfe.calendar.sync.context import SyncContext
from aiwfe.calendar.sync.models import SyncItem
from aiwfe.calendar.sync.remote import SyncFailed, host_label
from aiwfe.core import outbound
from aiwfe.core.crypto import InvalidToken, decrypt
from aiwfe.core.logging import get_logger

log = get_logger(__name__)
T = TypeVar("T")
ICS_TYPE = "text/calendar; charset=utf-8"


class GetCtag(ValuedBaseElement):
    """CalendarServer's collection tag: changes whenever anything in the collection does."""

    tag = "{http://calendarserver.org/ns/}getctag"


@dataclass
class Push:
    kind: str  # "put" | "create" | "delete"
    href: str
    uid: str
    etag: str | None = None
    body: str | None = None


@dataclass
class Pulled:
    ctag: str | None
    sync_token: str | None
    full: bool
    changed: list[tuple[str, str | None, str]] = field(default_factory=list)  # href, etag, data
    deleted: set[str] = field(default_factory=set)


async def _client(ctx: SyncContext) -> AsyncDAVClient:
    source = ctx.source
    password = None
    if source.password_encrypted:
        try:
            password = decrypt(ctx.settings, source.password_encrypted)
        except InvalidToken:
            raise SyncFailed("the stored password cannot be decrypted; enter it again") from None
    client = AsyncDAVClient(
        url=ctx.calendar.source_url,
        username=source.username,
        password=password,
        timeout=int(max(1, ctx.settings.calendar_sync_timeout_seconds)),
        enable_rfc6764=False,
        require_tls=False,
        rate_limit_handle=False,  # our retries and circuit handle 429/503
    )
    # caldav makes its own httpx client; every request must go through the guarded one instead.
    await client.session.aclose()
    client.session = ctx.remote.outbound
    return client


def new_href(collection: str, uid: str) -> str:
    return f"{collection.rstrip('/')}/{uuid.uuid5(uuid.NAMESPACE_URL, uid).hex}.ics"


async def _plan(ctx: SyncContext, items: dict[str, SyncItem]) -> list[Push]:
    """Local changes since the last sync, as remote operations."""
    rows_by_uid = await series_rows(ctx.db, ctx.calendar.id)
    pushes: list[Push] = []
    known_uids = set()
    stamp = datetime.now(UTC)
    for item in items.values():
        known_uids.add(item.uid)
        rows = rows_by_uid.get(item.uid)
        if not rows:
            pushes.append(Push("delete", item.href, item.uid, item.etag))
        elif series_hash(rows) != item.local_hash:
            body = ics.render(ctx.calendar.name, ctx.calendar.time_zone, map(draft_of, rows), stamp)
            pushes.append(Push("put", item.href, item.uid, item.etag, body.decode()))
    collection = ctx.calendar.source_url or ""
    for uid, rows in rows_by_uid.items():
        if uid not in known_uids:
            body = ics.render(ctx.calendar.name, ctx.calendar.time_zone, map(draft_of, rows), stamp)
            pushes.append(Push("create", new_href(collection, uid), uid, None, body.decode()))
    return pushes


async def _send(client: AsyncDAVClient, push: Push) -> tuple[int, str | None]:
    if push.kind == "delete":
        headers = {"If-Match": push.etag} if push.etag else {}
        response = await client.delete(push.href, headers)
    else:
        headers = {"Content-Type": ICS_TYPE}
        if push.kind == "create":
            headers["If-None-Match"] = "*"
        elif push.etag:
            headers["If-Match"] = push.etag
        response = await client.put(push.href, push.body or "", headers)
    status = int(response.status)
    if status >= 500 or status == 429:
        raise dav_error.DAVError(url=push.href, reason="server error", status=status)
    return status, response.headers.get("ETag")


def _guarded(label: str, function: Callable[[], Awaitable[T]]) -> Callable[[], Awaitable[T]]:
    """Run a caldav call; what the library raises on an answer it cannot read becomes a sentence."""

    async def run() -> T:
        try:
            return await function()
        except (dav_error.DAVError, OSError, SyncFailed, outbound.OutboundError, httpx.HTTPError):
            raise
        except Exception as exc:
            log.warning("caldav_unreadable_answer", host=label, error=repr(exc)[:300])
            raise SyncFailed(
                f"{label} did not answer like a CalDAV server ({type(exc).__name__}); check the URL"
            ) from exc

    return run


def _is_unauthorized(exc: dav_error.DAVError) -> bool:
    return exc.status == 401 or "unauthorized" in str(getattr(exc, "reason", "")).lower()


async def _pull(ctx: SyncContext, client: AsyncDAVClient, known_ctag: str | None, force: bool) -> Pulled:
    calendar = client.calendar(url=ctx.calendar.source_url)  # type: ignore[no-untyped-call]
    ctag_value: Any = await calendar.get_property(GetCtag())
    ctag = str(ctag_value) if ctag_value is not None else None
    if ctag is not None and ctag == known_ctag and not force:
        return Pulled(ctag, ctx.source.sync_token, full=False)
    result = None
    full = True
    if ctx.source.sync_token:
        try:
            result = await calendar.get_objects_by_sync_token(
                ctx.source.sync_token, load_objects=True, disable_fallback=True
            )
            full = False
        except dav_error.DAVError as exc:
            if _is_unauthorized(exc):
                raise
            log.info("caldav_sync_token_refused", calendar=str(ctx.calendar.id), reason=str(exc)[:200])
    if result is None:
        result = await calendar.get_objects_by_sync_token(None, load_objects=True)
    deleted = {str(url) for url in getattr(result, "deleted_urls", None) or ()}
    pulled = Pulled(ctag, str(result.sync_token) if result.sync_token else None, full, deleted=deleted)
    for obj in result:
        href = str(obj.url)
        if href in deleted:
            continue
        data = obj.data
        if not data:
            pulled.deleted.add(href)
            continue
        etag = obj.props.get("{DAV:}getetag") if getattr(obj, "props", None) else None
        pulled.changed.append((href, str(etag) if etag else None, str(data)))
    return pulled


async def sync(ctx: SyncContext) -> bool:
    url = ctx.calendar.source_url or ""
    label = host_label(url)
    try:
        outbound.check_syntax(url)
    except outbound.Refused as exc:
        raise SyncFailed(f"the source URL {exc}") from None
    client = await _client(ctx)
    items = {
        item.href: item
        for item in await ctx.db.scalars(select(SyncItem).where(SyncItem.calendar_id == ctx.calendar.id))
    }
    pushes = await _plan(ctx, items)
    pushed: set[str] = set()
    for push in pushes:
        status, etag = await ctx.remote.call(url, _guarded(label, functools.partial(_send, client, push)))
        if status == 412:
            log.info("caldav_push_conflict", calendar=str(ctx.calendar.id), uid=push.uid, kind=push.kind)
            continue  # the remote changed as well: its version wins and arrives with the pull
        if status in (401, 403):
            raise SyncFailed(
                f"{label} refused our change to {push.uid!r} (HTTP {status}); "
                "the account may not be allowed to write to this calendar"
            )
        if status == 404 and push.kind == "delete":
            continue
        if not 200 <= status < 300:
            raise SyncFailed(f"{label} refused our change to {push.uid!r} (HTTP {status})")
        pushed.add(push.uid)
        if push.kind == "delete":
            await ctx.db.execute(
                delete(SyncItem).where(SyncItem.calendar_id == ctx.calendar.id, SyncItem.href == push.href)
            )
            items.pop(push.href, None)
        else:
            item = items.get(push.href)
            if item is None:
                item = SyncItem(id=uuid.uuid4(), calendar_id=ctx.calendar.id, href=push.href, uid=push.uid)
                ctx.db.add(item)
                items[push.href] = item
            item.etag = etag
    force = bool(pushes)
    pulled = await ctx.remote.call(url, _guarded(label, lambda: _pull(ctx, client, ctx.source.ctag, force)))
    changed = await _apply(ctx, items, pulled)
    await _record_hashes(ctx, items, touched=pushed)
    ctx.source.ctag = pulled.ctag
    ctx.source.sync_token = pulled.sync_token
    return changed


async def _apply(ctx: SyncContext, items: dict[str, SyncItem], pulled: Pulled) -> bool:
    changed = False
    deleted = set(pulled.deleted)
    if pulled.full:
        listed = {href for href, _, _ in pulled.changed}
        deleted |= {href for href in items if href not in listed}
    for href in deleted:
        gone = items.pop(href, None)
        if gone is None:
            continue
        changed = await drop_series(ctx.db, ctx.calendar.id, gone.uid) or changed
        await ctx.db.delete(gone)
    parsed: list[tuple[str, str | None, str, list[EventDraft]]] = []
    for href, etag, data in pulled.changed:
        try:
            drafts = ics.parse(
                data.encode(),
                default_tz=ctx.calendar.time_zone,
                **ctx.ics_limits,
            ).events
        except ics.IcsError as exc:
            raise SyncFailed(f"{href} on {host_label(href)} is not a usable event: {exc}") from None
        uids = {draft.uid for draft in drafts}
        if len(uids) != 1:
            raise SyncFailed(f"{href} holds {len(uids)} events' UIDs; a CalDAV resource must hold one")
        parsed.append((href, etag, uids.pop(), drafts))
    existing: dict[str, list[Event]] = {}
    wanted = sorted({uid for _, _, uid, _ in parsed})
    for start in range(0, len(wanted), 1000):
        existing.update(await series_rows(ctx.db, ctx.calendar.id, wanted[start : start + 1000]))
    for href, etag, uid, drafts in parsed:
        item = items.get(href)
        if item is None:
            item = SyncItem(id=uuid.uuid4(), calendar_id=ctx.calendar.id, href=href, uid=uid)
            ctx.db.add(item)
            items[href] = item
        elif item.uid != uid:
            changed = await drop_series(ctx.db, ctx.calendar.id, item.uid) or changed
            existing.pop(item.uid, None)
            item.uid = uid
        rows, differs = await put_series(
            ctx.db, ctx.calendar.id, drafts, existing.get(uid, []), budget=ctx.budget
        )
        existing[uid] = rows
        changed = changed or differs
        item.etag = etag
        item.local_hash = series_hash(rows)
    await ctx.db.flush()
    return changed


async def _record_hashes(ctx: SyncContext, items: dict[str, SyncItem], touched: set[str]) -> None:
    """After our own pushes, the rows as they are now are what the remote holds."""
    if not touched:
        return
    rows_by_uid = await series_rows(ctx.db, ctx.calendar.id, touched)
    for item in items.values():
        if item.uid in touched and item.uid in rows_by_uid:
            item.local_hash = series_hash(rows_by_uid[item.uid])
    await ctx.db.flush()
