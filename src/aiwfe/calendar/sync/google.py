"""A Google calendar through a connected OAuth account (read-only), like Cal.com's sync: ``events.list``
with the stored ``syncToken`` for what changed since, a full listing the first time and whenever Google
answers 410 Gone (the token expired). Each Google event becomes a VEVENT run through the ICS reader, so the
same checks and limits apply as to an import.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

from icalendar import Event as IEvent
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiwfe.calendar import ics
from aiwfe.calendar.draft import EventDraft
from aiwfe.calendar.recurrence import instant_key, is_zone, zone
from aiwfe.calendar.store import draft_of, fill
from aiwfe.calendar.sync.apply import drop_series, mirror, put_series, series_rows
from aiwfe.calendar.sync.context import SyncContext
from aiwfe.calendar.sync.models import SyncItem
from aiwfe.calendar.sync.remote import SyncFailed, TokenExpired
from aiwfe.core.crypto import InvalidToken
from aiwfe.core.redis import create_redis
from aiwfe.core.settings import Settings
from aiwfe.oauth.connected import ConnectedAccounts
from aiwfe.oauth.errors import NotLinked, ProviderUnavailable, ReconnectNeeded
from aiwfe.oauth.service import OAuthDeps

PAGE_SIZE = 250
MAX_PAGES = 200
_RECURRENCE = ("RRULE:", "EXRULE:", "RDATE", "EXDATE")


async def access_token(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, account_id: uuid.UUID | None
) -> str:
    """A fresh access token for the connected account, in a session of its own: a refresh commits (or
    rolls back) the account row, which must not touch the sync run's transaction."""
    if account_id is None:
        raise SyncFailed(
            "the connected Google account was removed; connect it again and re-create the calendar"
        )
    redis = create_redis(settings)
    deps = OAuthDeps.build(settings, redis)
    try:
        async with sessions() as db:
            return await ConnectedAccounts(db, deps).access_token(account_id)
    except ReconnectNeeded:
        raise SyncFailed(
            "Google no longer accepts aiwfe's access to the account; link it again in your account settings"
        ) from None
    except NotLinked:
        raise SyncFailed("the connected Google account has no access granted; connect it again") from None
    except InvalidToken:
        raise SyncFailed("the stored Google token cannot be decrypted; link the account again") from None
    except ProviderUnavailable as exc:
        raise SyncFailed(f"Google cannot be reached to refresh the account's token: {exc.detail}") from None
    finally:
        await deps.aclose()
        await redis.aclose()


async def list_events(
    ctx: SyncContext, token: str, sync_token: str | None
) -> tuple[list[dict[str, Any]], str]:
    """Every page of ``events.list``; returns the items and the next sync token. 410 -> TokenExpired."""
    base = ctx.settings.google_calendar_api_url.rstrip("/")
    calendar_id = ctx.source.remote_calendar_id or "primary"
    url = f"{base}/calendars/{quote(calendar_id, safe='')}/events"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    items: list[dict[str, Any]] = []
    page_token: str | None = None
    for _ in range(MAX_PAGES):
        params: dict[str, str | int] = {"maxResults": PAGE_SIZE}
        if sync_token:
            params["syncToken"] = sync_token
        else:
            params["showDeleted"] = "false"
        if page_token:
            params["pageToken"] = page_token

        async def get(params: dict[str, str | int] = params) -> dict[str, Any]:
            response = await ctx.remote.http.get(url, params=params, headers=headers)
            if response.status_code == 410:
                raise TokenExpired("Google expired the sync token")
            response.raise_for_status()
            try:
                body = response.json()
            except ValueError:
                raise SyncFailed("Google answered with something that is not JSON") from None
            if not isinstance(body, dict):
                raise SyncFailed("Google answered with an unexpected document")
            return body

        body = await ctx.remote.call(url, get)
        page = body.get("items") or []
        if not isinstance(page, list):
            raise SyncFailed("Google answered with an unexpected document")
        items.extend(item for item in page if isinstance(item, dict))
        if len(items) > ctx.settings.calendar_import_max_events:
            raise SyncFailed(
                f"the Google calendar has more than {ctx.settings.calendar_import_max_events} events"
            )
        page_token = body.get("nextPageToken")
        if not page_token:
            next_sync = body.get("nextSyncToken")
            if not isinstance(next_sync, str) or not next_sync:
                raise SyncFailed("Google's last page has no nextSyncToken")
            return items, next_sync
    raise SyncFailed(f"Google returned more than {MAX_PAGES} pages")


def _moment(value: Any, what: str) -> date | datetime:
    """A Google ``start``/``end``/``originalStartTime`` as a date or an aware datetime in its zone."""
    if not isinstance(value, dict):
        raise SyncFailed(f"a Google event has no {what}")
    if "date" in value:
        return date.fromisoformat(str(value["date"]))
    moment = datetime.fromisoformat(str(value.get("dateTime", "")).replace("Z", "+00:00"))
    name = value.get("timeZone")
    if isinstance(name, str) and is_zone(name):
        return moment.astimezone(zone(name)) if moment.tzinfo else moment.replace(tzinfo=zone(name))
    if moment.tzinfo is None:
        raise SyncFailed(f"a Google event's {what} has no offset and no time zone")
    return moment


def _vevent(item: dict[str, Any]) -> str:
    event = IEvent()
    event.add("UID", str(item.get("iCalUID") or item.get("id") or ""))
    event.add("DTSTAMP", datetime.fromisoformat("2000-01-01T00:00:00+00:00"))
    event.add("DTSTART", _moment(item.get("start"), "start"))
    event.add("DTEND", _moment(item.get("end"), "end"))
    if item.get("originalStartTime"):
        event.add("RECURRENCE-ID", _moment(item["originalStartTime"], "originalStartTime"))
    for prop, key in (("SUMMARY", "summary"), ("DESCRIPTION", "description"), ("LOCATION", "location")):
        if isinstance(item.get(key), str) and item[key]:
            event.add(prop, item[key])
    event.add("STATUS", str(item.get("status") or "confirmed").upper())
    event.add("TRANSP", "TRANSPARENT" if item.get("transparency") == "transparent" else "OPAQUE")
    if isinstance(item.get("sequence"), int):
        event.add("SEQUENCE", item["sequence"])
    text = str(event.to_ical().decode())
    lines = []
    for line in item.get("recurrence") or []:
        if (
            not isinstance(line, str)
            or "\r" in line
            or "\n" in line
            or not line.upper().startswith(_RECURRENCE)
        ):
            raise SyncFailed(f"a Google event has an unreadable recurrence line {str(line)[:80]!r}")
        lines.append(line)
    if lines:
        head, _, tail = text.rpartition("END:VEVENT")
        text = head + "\r\n".join(lines) + "\r\nEND:VEVENT" + tail
    return text


def to_drafts(ctx: SyncContext, items: list[dict[str, Any]]) -> list[EventDraft]:
    """Google events (none cancelled) as checked drafts, through the ICS reader and its limits."""
    if not items:
        return []
    try:
        body = "".join(_vevent(item) for item in items)
    except (ValueError, TypeError) as exc:
        raise SyncFailed(f"a Google event cannot be read ({exc})") from None
    data = f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//aiwfe//google//EN\r\n{body}END:VCALENDAR\r\n"
    try:
        return ics.parse(
            data.encode(),
            default_tz=ctx.calendar.time_zone,
            **ctx.ics_limits,
        ).events
    except ics.IcsError as exc:
        raise SyncFailed(f"a Google event cannot be used: {exc}") from None


def _occurrence_key(original: Any) -> str:
    moment = _moment(original, "originalStartTime")
    return moment.isoformat() if not isinstance(moment, datetime) else instant_key(moment)


async def _full(ctx: SyncContext, items: list[dict[str, Any]]) -> bool:
    live = [item for item in items if item.get("status") != "cancelled"]
    drafts = to_drafts(ctx, live)
    changed = await mirror(ctx.db, ctx.calendar.id, drafts, budget=ctx.budget)
    await ctx.db.execute(delete(SyncItem).where(SyncItem.calendar_id == ctx.calendar.id))
    for item, draft in zip(live, drafts, strict=True):
        ctx.db.add(
            SyncItem(id=uuid.uuid4(), calendar_id=ctx.calendar.id, href=str(item["id"]), uid=draft.uid)
        )
    await ctx.db.flush()
    return changed


async def _incremental(ctx: SyncContext, items: list[dict[str, Any]]) -> bool:
    known = {
        item.href: item
        for item in await ctx.db.scalars(select(SyncItem).where(SyncItem.calendar_id == ctx.calendar.id))
    }
    changed = False
    live: list[dict[str, Any]] = []
    for item in items:
        google_id = str(item.get("id", ""))
        if item.get("status") != "cancelled":
            live.append(item)
            continue
        master_id = item.get("recurringEventId")
        if master_id and item.get("originalStartTime"):
            master_item = known.get(str(master_id))
            if master_item is not None:
                changed = (
                    await _cancel_occurrence(ctx, master_item.uid, _occurrence_key(item["originalStartTime"]))
                    or changed
                )
        mapped = known.pop(google_id, None)
        if mapped is not None:
            if not master_id:
                changed = await drop_series(ctx.db, ctx.calendar.id, mapped.uid) or changed
            await ctx.db.delete(mapped)
    drafts = to_drafts(ctx, live)
    for item, draft in zip(live, drafts, strict=True):
        # Google sends a changed occurrence or master alone: replace that one row, keep the rest.
        rows = (await series_rows(ctx.db, ctx.calendar.id, [draft.uid])).get(draft.uid, [])
        mine = [row for row in rows if row.recurrence_id == draft.recurrence_id]
        _, differs = await put_series(ctx.db, ctx.calendar.id, [draft], mine, budget=ctx.budget)
        changed = changed or differs
        google_id = str(item["id"])
        if google_id not in known:
            row = SyncItem(id=uuid.uuid4(), calendar_id=ctx.calendar.id, href=google_id, uid=draft.uid)
            ctx.db.add(row)
            known[google_id] = row
    await ctx.db.flush()
    return changed


async def _cancel_occurrence(ctx: SyncContext, uid: str, key: str) -> bool:
    rows = (await series_rows(ctx.db, ctx.calendar.id, [uid])).get(uid, [])
    changed = False
    for row in rows:
        if row.recurrence_id == key:
            await ctx.db.delete(row)
            changed = True
        elif row.recurrence_id is None and key not in row.exdates:
            old = draft_of(row)
            fill(row, old.with_changes(exdates=tuple(sorted({*old.exdates, key}))), budget=ctx.budget)
            changed = True
    await ctx.db.flush()
    return changed


async def sync(ctx: SyncContext) -> bool:
    token = ctx.access_token
    if token is None:
        raise SyncFailed("no access token for the connected Google account")
    source = ctx.source
    if source.sync_token:
        try:
            items, next_token = await list_events(ctx, token, source.sync_token)
        except TokenExpired:
            # Google's documented answer to 410: forget everything and list the calendar again.
            source.sync_token = None
        else:
            changed = await _incremental(ctx, items)
            source.sync_token = next_token
            return changed
    items, next_token = await list_events(ctx, token, None)
    changed = await _full(ctx, items)
    source.sync_token = next_token
    return changed
