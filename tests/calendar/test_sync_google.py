"""Google Calendar through a connected OAuth account, against the local stub of events.list: a full sync,
incremental syncs with the syncToken (changes, cancellations, a cancelled occurrence), a full resync on
410, paging, and the account or the API refusing (-> sync_status error, events untouched)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.calendar import sync_support
from tests.calendar.conftest import Caller
from tests.calendar.google_stub import GoogleStub
from tests.calendar.sync_support import calendar_of, event_rows, run_sync

from aiwfe.core.crypto import encrypt
from aiwfe.core.db import create_engine, create_sessionmaker
from aiwfe.core.settings import Settings
from aiwfe.oauth.models import AccountStatus, OAuthAccount

enqueued = sync_support.enqueued
sync_settings = sync_support.sync_settings
settings = sync_support.loopback_settings
MARCH = {"start": "2026-03-01T00:00:00Z", "end": "2026-04-01T00:00:00Z"}
BERLIN = "Europe/Berlin"


@pytest.fixture
def google() -> Iterator[tuple[GoogleStub, str]]:
    stub = GoogleStub()
    server = stub.serve()
    try:
        yield stub, server.base_url
    finally:
        server.close()


@pytest.fixture
def google_settings(sync_settings: Settings, google: tuple[GoogleStub, str]) -> Settings:
    return sync_settings.model_copy(update={"google_calendar_api_url": google[1]})


async def _connect(settings: Settings, caller: Caller, token: str, **fields: Any) -> str:
    """A connected Google account of ``caller`` holding ``token`` (as the OAuth link flow leaves it)."""
    me = (await caller.get("/api/v1/me")).json()
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as db:
            account = OAuthAccount(
                id=uuid.uuid4(),
                user_id=uuid.UUID(me["id"]),
                provider="google",
                subject=uuid.uuid4().hex,
                email=me["email"],
                scopes=["https://www.googleapis.com/auth/calendar.readonly"],
                access_token_encrypted=encrypt(settings, token),
                # The sync code reads this same process clock (datetime.now): valid for the test's hour.
                token_expires_at=datetime.now(UTC) + timedelta(hours=1),
                **fields,
            )
            db.add(account)
            await db.commit()
            return str(account.id)
    finally:
        await engine.dispose()


def _timed(start: str, end: str, **event: Any) -> dict[str, Any]:
    return {
        "start": {"dateTime": start, "timeZone": BERLIN},
        "end": {"dateTime": end, "timeZone": BERLIN},
        **event,
    }


def _seed(stub: GoogleStub) -> None:
    stub.put(
        "primary",
        id="single",
        summary="Dentist",
        **_timed("2026-03-03T09:00:00+01:00", "2026-03-03T10:00:00+01:00"),
    )
    stub.put(
        "primary",
        id="weekly",
        summary="Standup",
        recurrence=["RRULE:FREQ=WEEKLY;COUNT=4"],
        **_timed("2026-03-02T09:30:00+01:00", "2026-03-02T09:45:00+01:00"),
    )
    stub.put(
        "primary",
        id="weekly_20260309T083000Z",
        iCalUID="weekly@google.com",
        recurringEventId="weekly",
        originalStartTime={"dateTime": "2026-03-09T09:30:00+01:00", "timeZone": BERLIN},
        summary="Standup (late)",
        **_timed("2026-03-09T11:00:00+01:00", "2026-03-09T11:15:00+01:00"),
    )
    stub.put(
        "primary", id="holiday", summary="Holiday", start={"date": "2026-03-20"}, end={"date": "2026-03-21"}
    )


async def _google_calendar(caller: Caller, account_id: str, **fields: Any) -> dict[str, Any]:
    return await caller.calendar(name="Google", source="google", connected_account_id=account_id, **fields)


def _summaries(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(i["summary"], i["start"].get("date_time") or i["start"]["date"]) for i in items]


async def test_a_full_sync_brings_single_recurring_overridden_and_all_day_events(
    alice: Caller, google: tuple[GoogleStub, str], google_settings: Settings, enqueued: list[uuid.UUID]
) -> None:
    stub, _ = google
    _seed(stub)
    account = await _connect(google_settings, alice, stub.access_token)
    calendar = await _google_calendar(alice, account)
    assert calendar["read_only"] is True
    assert calendar["sync_status"] == "pending"
    assert await run_sync(google_settings, calendar["id"]) == "changed"
    synced = await calendar_of(alice, calendar["id"])
    assert synced["sync_status"] == "ok", synced["sync_error"]
    assert "syncToken" not in stub.requests[-1]
    items = await alice.occurrences(**MARCH, calendar=calendar["id"])
    assert _summaries(items) == [
        ("Standup", "2026-03-02T09:30:00+01:00"),
        ("Dentist", "2026-03-03T09:00:00+01:00"),
        ("Standup (late)", "2026-03-09T11:00:00+01:00"),
        ("Standup", "2026-03-16T09:30:00+01:00"),
        ("Holiday", "2026-03-20"),
        ("Standup", "2026-03-23T09:30:00+01:00"),
    ]


async def test_an_incremental_sync_uses_the_sync_token_and_applies_changes_and_cancellations(
    alice: Caller, google: tuple[GoogleStub, str], google_settings: Settings, enqueued: list[uuid.UUID]
) -> None:
    stub, _ = google
    _seed(stub)
    account = await _connect(google_settings, alice, stub.access_token)
    calendar = await _google_calendar(alice, account)
    await run_sync(google_settings, calendar["id"])
    before = {(uid, rid): row_id for uid, rid, _, row_id in await event_rows(google_settings, calendar["id"])}
    version = (await calendar_of(alice, calendar["id"]))["version"]

    stub.put(
        "primary",
        id="single",
        summary="Dentist (moved)",
        **_timed("2026-03-04T09:00:00+01:00", "2026-03-04T10:00:00+01:00"),
    )
    stub.cancel("primary", "holiday")
    stub.put(
        "primary",
        id="weekly_20260316T083000Z",
        status="cancelled",
        recurringEventId="weekly",
        originalStartTime={"dateTime": "2026-03-16T09:30:00+01:00", "timeZone": BERLIN},
    )
    stub.put(
        "primary",
        id="new",
        summary="Lunch",
        **_timed("2026-03-05T12:00:00+01:00", "2026-03-05T13:00:00+01:00"),
    )
    assert await run_sync(google_settings, calendar["id"]) == "changed"
    assert stub.requests[-1]["syncToken"].startswith("sync-")

    items = await alice.occurrences(**MARCH, calendar=calendar["id"])
    assert _summaries(items) == [
        ("Standup", "2026-03-02T09:30:00+01:00"),
        ("Dentist (moved)", "2026-03-04T09:00:00+01:00"),
        ("Lunch", "2026-03-05T12:00:00+01:00"),
        ("Standup (late)", "2026-03-09T11:00:00+01:00"),
        ("Standup", "2026-03-23T09:30:00+01:00"),
    ]
    after = {(uid, rid): row_id for uid, rid, _, row_id in await event_rows(google_settings, calendar["id"])}
    assert after[("single@google.com", None)] == before[("single@google.com", None)]
    assert (await calendar_of(alice, calendar["id"]))["version"] > version

    # Nothing new at Google: the next run changes nothing and keeps the version.
    version = (await calendar_of(alice, calendar["id"]))["version"]
    assert await run_sync(google_settings, calendar["id"]) == "unchanged"
    assert (await calendar_of(alice, calendar["id"]))["version"] == version


async def test_a_410_gone_makes_a_full_resync(
    alice: Caller, google: tuple[GoogleStub, str], google_settings: Settings, enqueued: list[uuid.UUID]
) -> None:
    stub, _ = google
    _seed(stub)
    account = await _connect(google_settings, alice, stub.access_token)
    calendar = await _google_calendar(alice, account)
    await run_sync(google_settings, calendar["id"])
    stub.cancel("primary", "single")
    stub.expire_tokens()
    stub.requests.clear()
    assert await run_sync(google_settings, calendar["id"]) == "changed"
    assert "syncToken" in stub.requests[0]
    assert "syncToken" not in stub.requests[1]
    synced = await calendar_of(alice, calendar["id"])
    assert synced["sync_status"] == "ok"
    uids = {uid for uid, _, _, _ in await event_rows(google_settings, calendar["id"])}
    assert uids == {"weekly@google.com", "holiday@google.com"}


async def test_every_page_is_read(
    alice: Caller, google: tuple[GoogleStub, str], google_settings: Settings, enqueued: list[uuid.UUID]
) -> None:
    stub, _ = google
    stub.page_size = 2
    for day in range(1, 8):
        stub.put(
            "work",
            summary=f"Day {day}",
            start={"date": f"2026-03-0{day}"},
            end={"date": f"2026-03-0{day + 1}"},
        )
    account = await _connect(google_settings, alice, stub.access_token)
    calendar = await _google_calendar(alice, account, remote_calendar_id="work")
    await run_sync(google_settings, calendar["id"])
    assert sum("pageToken" in r for r in stub.requests) == 3
    assert len(await event_rows(google_settings, calendar["id"])) == 7


@pytest.mark.parametrize(
    ("account_fields", "token", "reason"),
    [
        ({"status": AccountStatus.NEEDS_RECONNECT}, None, "link it again"),
        ({}, "a-token-google-no-longer-takes", "refused the credentials (HTTP 401)"),
    ],
    ids=["reconnect-needed", "401"],
)
async def test_a_refused_account_is_an_error_that_leaves_the_events(
    alice: Caller,
    google: tuple[GoogleStub, str],
    google_settings: Settings,
    enqueued: list[uuid.UUID],
    account_fields: dict[str, Any],
    token: str | None,
    reason: str,
) -> None:
    stub, _ = google
    _seed(stub)
    good = await _connect(google_settings, alice, stub.access_token)
    calendar = await _google_calendar(alice, good)
    await run_sync(google_settings, calendar["id"])
    rows = await event_rows(google_settings, calendar["id"])
    version = (await calendar_of(alice, calendar["id"]))["version"]

    bad = await _connect(google_settings, alice, token or stub.access_token, **account_fields)
    engine = create_engine(google_settings)
    try:
        async with create_sessionmaker(engine)() as db:
            from aiwfe.calendar.sync.models import SyncSource

            source = await db.get(SyncSource, uuid.UUID(calendar["id"]))
            assert source is not None
            source.connected_account_id = uuid.UUID(bad)
            await db.commit()
    finally:
        await engine.dispose()
    stub.put(
        "primary",
        summary="Not to be seen",
        **_timed("2026-03-06T09:00:00+01:00", "2026-03-06T10:00:00+01:00"),
    )
    assert await run_sync(google_settings, calendar["id"]) == "error"
    failed = await calendar_of(alice, calendar["id"])
    assert failed["sync_status"] == "error"
    assert reason in failed["sync_error"]
    assert failed["version"] == version
    assert await event_rows(google_settings, calendar["id"]) == rows


async def test_only_my_own_connected_google_account_can_be_used(
    alice: Caller, bob: Caller, google_settings: Settings, enqueued: list[uuid.UUID]
) -> None:
    bobs = await _connect(google_settings, bob, "bobs-token")
    for account in (bobs, str(uuid.uuid4())):
        response = await alice.post(
            "/api/v1/calendars", json={"name": "G", "source": "google", "connected_account_id": account}
        )
        assert response.status_code == 422, response.text
        assert "connected_account_id" in response.json()["detail"]
    assert enqueued == []
    assert (await alice.get("/api/v1/calendars")).json() == []
