"""What a deactivated (or not yet verified) account's calendars stop doing: feeds answer 404, syncs are not
scheduled, reminders are not delivered, and no reminder mail goes to an unverified address."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import text
from tests.auth.conftest import Api
from tests.calendar import sync_support
from tests.calendar.conftest import Caller
from tests.calendar.test_reminders_scan import Sessions, remind, set_mark, timed_event, utc

from aiwfe.calendar.reminders import delivery
from aiwfe.calendar.reminders.models import Delivery, DeliveryStatus
from aiwfe.calendar.reminders.scanner import scan
from aiwfe.calendar.sync import engine
from aiwfe.core.db import create_engine, create_sessionmaker
from aiwfe.core.settings import Settings
from aiwfe_stack.servers.smtp_sink import SmtpSink

enqueued = sync_support.enqueued
T0 = utc("2031-05-06T07:00:00")


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[Sessions]:
    db_engine = create_engine(settings)
    yield create_sessionmaker(db_engine)
    await db_engine.dispose()


async def _sql(api: Api, statement: str, **params: object) -> None:
    async with api.app.state.engine.begin() as conn:
        await conn.execute(text(statement), params)


async def _set_active(api: Api, email: str, active: bool) -> None:
    await _sql(api, "UPDATE users SET is_active = :v WHERE email = :e", v=active, e=email)


async def test_a_deactivated_owners_feed_answers_404_until_reactivated(api: Api, alice: Caller) -> None:
    calendar = await alice.calendar(name="Shared")
    feed = (await alice.put(f"/api/v1/calendars/{calendar['id']}/feed")).json()
    path = feed["url"].removeprefix("http://testserver")
    assert (await api.http.get(path)).status_code == 200
    await _set_active(api, "alice@example.com", False)
    gone = await api.http.get(path)
    assert gone.status_code == 404
    assert gone.json()["status"] == 404
    await _set_active(api, "alice@example.com", True)
    assert (await api.http.get(path)).status_code == 200


async def test_a_deactivated_owners_calendars_are_not_synced(
    api: Api, alice: Caller, settings: Settings, enqueued: list[uuid.UUID]
) -> None:
    # Never fetched: the checks below stop before any call to the source.
    calendar = await alice.calendar(name="Holidays", source="ics", source_url="https://93.184.215.14/a.ics")
    calendar_id = uuid.UUID(str(calendar["id"]))
    db_sessions = api.app.state.sessionmaker
    await _set_active(api, "alice@example.com", False)
    assert await engine.due(db_sessions, settings) == []
    assert await engine.run(db_sessions, settings, calendar_id) == "inactive"
    await _set_active(api, "alice@example.com", True)
    assert await engine.due(db_sessions, settings) == [calendar_id]


async def _one_due(alice: Caller, sessions: Sessions, settings: Settings, channel: str) -> uuid.UUID:
    event = await timed_event(alice, T0 + timedelta(minutes=10))
    await remind(alice, event["id"], (10, channel))
    await set_mark(sessions, T0 - timedelta(seconds=30))
    (delivery_id,) = (await scan(sessions, settings, T0 + timedelta(seconds=30))).to_send
    return delivery_id


async def test_a_deactivated_owners_reminders_are_not_delivered(
    api: Api, alice: Caller, sessions: Sessions, settings: Settings
) -> None:
    delivery_id = await _one_due(alice, sessions, settings, "in_app")
    await _set_active(api, "alice@example.com", False)
    outcome = await delivery.deliver(sessions, settings, delivery_id, lambda: T0 + timedelta(seconds=31))
    assert outcome == "failed"
    async with sessions() as db:
        row = await db.get(Delivery, delivery_id)
    assert row is not None
    assert row.status is DeliveryStatus.FAILED
    assert "deactivated" in (row.error or "")
    await _set_active(api, "alice@example.com", True)
    notes = await alice.get("/api/v1/notifications")
    assert notes.json()["items"] == []


async def test_no_reminder_mail_goes_to_an_unverified_address(
    api: Api, alice: Caller, sessions: Sessions, settings: Settings, smtp_sink: SmtpSink
) -> None:
    await _sql(api, "UPDATE users SET email_verified_at = NULL WHERE email = 'alice@example.com'")
    delivery_id = await _one_due(alice, sessions, settings, "email")
    outcome = await delivery.deliver(sessions, settings, delivery_id, lambda: T0 + timedelta(seconds=31))
    assert outcome == "failed"
    async with sessions() as db:
        row = await db.get(Delivery, delivery_id)
    assert row is not None
    assert "not verified" in (row.error or "")
    # Only the reminder counts: a worker left running by an earlier test may still mail alice her sign-up's
    # verification link.
    reminders = [
        m
        for m in smtp_sink.messages()
        if m["To"] == "alice@example.com" and m["Subject"] != "Confirm your email address"
    ]
    assert reminders == []
