"""The change log behind sync tokens (migration 0009): concurrent writers to one calendar each get the
version their own bump made, so a client that synced between their commits misses neither."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from tests.caldav.conftest import LiveServer
from tests.caldav.test_protocol import dav, put

from aiwfe.core.settings import Settings

SYNC = """<D:sync-collection xmlns:D="DAV:"><D:sync-token>{token}</D:sync-token>
<D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"""


async def _interleaved_writes(settings: Settings, calendar_id: str) -> int:
    """Two transactions edit different events; the first commits its bump while the second is open."""
    engine = create_async_engine(settings.database_url.get_secret_value())
    bump = text("UPDATE calendars SET version = version + 1 WHERE id = :c RETURNING version")
    edit = text("UPDATE calendar_events SET summary = :s, etag = md5(random()::text) WHERE uid = :u")
    async with engine.connect() as first, engine.connect() as second:
        await first.execute(edit, {"s": "A2", "u": "a@test"})
        await second.execute(edit, {"s": "B2", "u": "b@test"})
        middle = (await first.execute(bump, {"c": calendar_id})).scalar_one()
        await first.commit()
        await second.execute(bump, {"c": calendar_id})
        await second.commit()
    await engine.dispose()
    return int(middle)


def test_a_sync_between_two_concurrent_writers_misses_neither(live: LiveServer, settings: Settings) -> None:
    alice = live.account("alice@example.com")
    made = alice.calendar()
    url = alice.collection(made["id"])
    assert put(alice, url + "a.ics", "a@test", "A").status_code == 201
    assert put(alice, url + "b.ics", "b@test", "B").status_code == 201

    middle = asyncio.run(_interleaved_writes(settings, made["id"]))

    # A client that synced right after the first commit holds the token of version `middle`.
    token = f"urn:aiwfe:caldav:sync:{made['id']}:{middle}"
    answer = dav(alice, "REPORT", url, SYNC.format(token=token), Depth="0")
    assert answer.status_code == 207, answer.text
    assert "/b.ics</D:href>" in answer.text
    assert "/a.ics</D:href>" not in answer.text
