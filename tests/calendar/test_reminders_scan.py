"""The reminder scan and the claim, driven with explicit times (no worker): each (event, occurrence, offset,
channel) is recorded once, recurrence and DST follow the calendar, downtime is sent late or skipped.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tests.calendar.conftest import Caller

from aiwfe.calendar.reminders import delivery
from aiwfe.calendar.reminders.models import Delivery, DeliveryStatus, Notification, ScanMark
from aiwfe.calendar.reminders.scanner import SCANNER, ScanResult, scan
from aiwfe.core.db import create_engine, create_sessionmaker
from aiwfe.core.settings import Settings

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[Sessions]:
    engine = create_engine(settings)
    yield create_sessionmaker(engine)
    await engine.dispose()


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def tuned(settings: Settings, **values: Any) -> Settings:
    return settings.model_copy(update=values)


async def set_mark(sessions: Sessions, when: datetime) -> None:
    async with sessions() as db:
        await db.merge(ScanMark(name=SCANNER, last_scan_at=when))
        await db.commit()


async def deliveries(sessions: Sessions) -> list[Delivery]:
    async with sessions() as db:
        rows = await db.scalars(select(Delivery).order_by(Delivery.due_at, Delivery.channel))
        return list(rows)


async def remind(caller: Caller, event_id: str, *reminders: tuple[int, str]) -> None:
    body = [{"minutes_before": m, "channel": c} for m, c in reminders]
    response = await caller.put(f"/api/v1/events/{event_id}/reminders", json=body)
    assert response.status_code == 200, response.text


async def timed_event(caller: Caller, start: datetime, zone: str = "UTC", **fields: Any) -> dict[str, Any]:
    calendar = await caller.calendar(time_zone=zone)
    local = start.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    return await caller.event(
        calendar["id"],
        summary=fields.pop("summary", "Meeting"),
        start={"date_time": local.isoformat(), "time_zone": zone},
        end={"date_time": (local + timedelta(minutes=30)).isoformat(), "time_zone": zone},
        **fields,
    )


async def scan_every(
    sessions: Sessions, settings: Settings, start: datetime, end: datetime, step: timedelta
) -> list[ScanResult]:
    await set_mark(sessions, start - step)
    results = []
    now = start
    while now <= end:
        results.append(await scan(sessions, settings, now))
        now += step
    return results


def skipped_total() -> float:
    return REGISTRY.get_sample_value("aiwfe_reminders_skipped_total") or 0.0


T0 = utc("2031-05-06T07:00:00")


async def test_a_due_reminder_is_recorded_once_across_overlapping_scans(
    alice: Caller, sessions: Sessions, settings: Settings
) -> None:
    event = await timed_event(alice, T0 + timedelta(minutes=10))
    await remind(alice, event["id"], (10, "email"), (10, "in_app"), (60, "email"))
    await set_mark(sessions, T0 - timedelta(seconds=30))

    first = await scan(sessions, settings, T0 + timedelta(seconds=30))
    assert first.recorded == 2
    rows = await deliveries(sessions)
    assert {(r.channel.value, r.minutes_before) for r in rows} == {("email", 10), ("in_app", 10)}
    assert all(r.due_at == T0 and r.status is DeliveryStatus.PENDING and not r.late for r in rows)
    assert all(r.occurrence_key == "2031-05-06T07:10:00Z" for r in rows)
    assert sorted(first.to_send) == sorted(r.id for r in rows)

    # The next scans overlap the window by the grace period: nothing new, nothing handed out again.
    for seconds in (90, 140):
        again = await scan(sessions, settings, T0 + timedelta(seconds=seconds))
        assert (again.recorded, again.to_send) == (0, [])
    # A row handed out but still unsent one lease later is handed out again (its worker may be gone).
    later = T0 + timedelta(seconds=30 + settings.reminders_lease_seconds)
    assert sorted((await scan(sessions, settings, later)).to_send) == sorted(r.id for r in rows)
    assert len(await deliveries(sessions)) == 2


async def test_concurrent_scans_record_each_reminder_once(
    alice: Caller, sessions: Sessions, settings: Settings
) -> None:
    for n in range(5):
        event = await timed_event(alice, T0 + timedelta(minutes=5 + n), summary=f"e{n}")
        await remind(alice, event["id"], (5, "in_app"), (5, "webhook"))
    await set_mark(sessions, T0 - timedelta(seconds=60))
    now = T0 + timedelta(minutes=5)
    results = await asyncio.gather(*(scan(sessions, settings, now) for _ in range(4)))
    assert sum(r.recorded for r in results) == 10
    handed_out = [d for r in results for d in r.to_send]
    assert len(handed_out) == len(set(handed_out)) == 10
    assert len(await deliveries(sessions)) == 10


async def test_each_occurrence_of_a_series_is_reminded_once_following_overrides_and_exdates(
    alice: Caller, sessions: Sessions, settings: Settings
) -> None:
    zone = "Europe/Berlin"
    event = await timed_event(
        alice, utc("2031-06-01T07:00:00"), zone, rrule="FREQ=DAILY;COUNT=5", exdates=["2031-06-04T09:00:00"]
    )
    moved = await alice.patch(
        f"/api/v1/events/{event['id']}",
        params={"scope": "occurrence", "recurrence_id": "2031-06-03T09:00:00"},
        json={
            "start": {"date_time": "2031-06-03T11:00:00", "time_zone": zone},
            "end": {"date_time": "2031-06-03T11:30:00", "time_zone": zone},
        },
    )
    assert moved.status_code == 200, moved.text
    await remind(alice, event["id"], (15, "in_app"))
    fast = tuned(settings, reminders_scan_seconds=1800, reminders_grace_seconds=3600)
    await scan_every(
        sessions, fast, utc("2031-05-31T00:00:00"), utc("2031-06-07T00:00:00"), timedelta(minutes=30)
    )
    rows = await deliveries(sessions)
    assert [(r.occurrence_key, r.due_at) for r in rows] == [
        ("2031-06-01T07:00:00Z", utc("2031-06-01T06:45:00")),
        ("2031-06-02T07:00:00Z", utc("2031-06-02T06:45:00")),
        ("2031-06-03T07:00:00Z", utc("2031-06-03T08:45:00")),  # the override moved it to 11:00
        ("2031-06-05T07:00:00Z", utc("2031-06-05T06:45:00")),  # 06-04 is an EXDATE
    ]
    assert not any(r.late for r in rows)


async def test_reminders_keep_wall_clock_time_across_spring_forward(
    alice: Caller, sessions: Sessions, settings: Settings
) -> None:
    # Berlin leaves CET for CEST on 2031-03-30: 09:00 is 08:00Z before and 07:00Z after; the
    # non-existent 02:30 of that night means 03:30 CEST (01:30Z).
    zone = "Europe/Berlin"
    nine = await timed_event(alice, utc("2031-03-28T08:00:00"), zone, rrule="FREQ=DAILY;COUNT=4")
    half_two = await timed_event(alice, utc("2031-03-28T01:30:00"), zone, rrule="FREQ=DAILY;COUNT=4")
    await remind(alice, nine["id"], (15, "in_app"))
    await remind(alice, half_two["id"], (0, "in_app"))
    fast = tuned(settings, reminders_scan_seconds=1800, reminders_grace_seconds=3600)
    await scan_every(
        sessions, fast, utc("2031-03-27T20:00:00"), utc("2031-04-01T00:00:00"), timedelta(minutes=30)
    )
    rows = await deliveries(sessions)
    by_event: dict[uuid.UUID, list[datetime]] = {}
    for row in rows:
        by_event.setdefault(row.event_id, []).append(row.due_at)
    assert by_event[uuid.UUID(nine["id"])] == [
        utc("2031-03-28T07:45:00"),
        utc("2031-03-29T07:45:00"),
        utc("2031-03-30T06:45:00"),
        utc("2031-03-31T06:45:00"),
    ]
    assert by_event[uuid.UUID(half_two["id"])] == [
        utc("2031-03-28T01:30:00"),
        utc("2031-03-29T01:30:00"),
        utc("2031-03-30T01:30:00"),
        utc("2031-03-31T00:30:00"),
    ]
    assert not any(r.late for r in rows)


async def test_the_repeated_hour_of_fall_back_reminds_once(
    alice: Caller, sessions: Sessions, settings: Settings
) -> None:
    # 02:30 happens twice in Berlin on 2031-10-26; the occurrence is the first one (CEST, 00:30Z).
    event = await timed_event(alice, utc("2031-10-25T00:30:00"), "Europe/Berlin", rrule="FREQ=DAILY;COUNT=3")
    await remind(alice, event["id"], (0, "in_app"), (0, "email"))
    fast = tuned(settings, reminders_scan_seconds=1800, reminders_grace_seconds=3600)
    await scan_every(
        sessions, fast, utc("2031-10-24T22:00:00"), utc("2031-10-27T03:00:00"), timedelta(minutes=30)
    )
    rows = await deliveries(sessions)
    assert [(r.occurrence_key, r.channel.value) for r in rows] == [
        ("2031-10-25T00:30:00Z", "email"),
        ("2031-10-25T00:30:00Z", "in_app"),
        ("2031-10-26T00:30:00Z", "email"),
        ("2031-10-26T00:30:00Z", "in_app"),
        ("2031-10-27T01:30:00Z", "email"),
        ("2031-10-27T01:30:00Z", "in_app"),
    ]


async def test_after_downtime_recent_misses_are_late_and_older_ones_skipped_and_counted(
    alice: Caller, sessions: Sessions, settings: Settings
) -> None:
    now = T0
    recent = await timed_event(alice, now - timedelta(minutes=5) + timedelta(minutes=10), summary="recent")
    old = await timed_event(alice, now - timedelta(hours=1) + timedelta(minutes=10), summary="old")
    future = await timed_event(alice, now + timedelta(minutes=5) + timedelta(minutes=10), summary="future")
    for event in (recent, old, future):
        await remind(alice, event["id"], (10, "in_app"))
    await set_mark(sessions, now - timedelta(hours=3))  # nothing scanned for three hours
    before = skipped_total()

    result = await scan(sessions, settings, now)
    rows = {r.event_id: r for r in await deliveries(sessions)}
    assert set(rows) == {uuid.UUID(recent["id"]), uuid.UUID(old["id"])}
    sent_late = rows[uuid.UUID(recent["id"])]
    assert (sent_late.status, sent_late.late) == (DeliveryStatus.PENDING, True)
    assert rows[uuid.UUID(old["id"])].status is DeliveryStatus.SKIPPED
    assert result.to_send == [sent_late.id]
    assert result.skipped == 1
    assert skipped_total() == before + 1
    assert result.lag_seconds == 300
    assert REGISTRY.get_sample_value("aiwfe_reminders_lag_seconds") == 300

    again = await scan(sessions, settings, now + timedelta(minutes=1))
    assert (again.recorded, again.skipped, again.to_send) == (0, 0, [])
    assert skipped_total() == before + 1

    assert (
        await delivery.deliver(sessions, settings, sent_late.id, lambda: now + timedelta(seconds=2)) == "sent"
    )
    async with sessions() as db:
        (note,) = (await db.scalars(select(Notification))).all()
    assert note.data["late"] is True
    assert note.body.endswith("(sent late)")


async def test_recorded_but_unsent_reminders_past_the_grace_window_are_skipped(
    alice: Caller, sessions: Sessions, settings: Settings
) -> None:
    event = await timed_event(alice, T0 + timedelta(minutes=10))
    await remind(alice, event["id"], (10, "in_app"))
    await set_mark(sessions, T0 - timedelta(minutes=1))
    assert (await scan(sessions, settings, T0)).recorded == 1
    before = skipped_total()
    # No worker took it (all down) until the grace window passed.
    late = T0 + timedelta(seconds=settings.reminders_grace_seconds + 1)
    result = await scan(sessions, settings, late)
    assert (result.skipped, result.to_send, result.lag_seconds) == (1, [], 0)
    (row,) = await deliveries(sessions)
    assert row.status is DeliveryStatus.SKIPPED
    assert skipped_total() == before + 1


async def test_cancelled_events_and_events_without_reminders_are_not_reminded(
    alice: Caller, sessions: Sessions, settings: Settings
) -> None:
    cancelled = await timed_event(alice, T0 + timedelta(minutes=10), status="cancelled")
    await remind(alice, cancelled["id"], (10, "in_app"))
    await timed_event(alice, T0 + timedelta(minutes=10))
    await set_mark(sessions, T0 - timedelta(minutes=1))
    assert (await scan(sessions, settings, T0)).recorded == 0


async def test_removing_a_reminder_drops_its_unsent_deliveries(
    alice: Caller, sessions: Sessions, settings: Settings
) -> None:
    event = await timed_event(alice, T0 + timedelta(minutes=10))
    await remind(alice, event["id"], (10, "in_app"), (10, "email"))
    await set_mark(sessions, T0 - timedelta(minutes=1))
    await scan(sessions, settings, T0)
    await remind(alice, event["id"], (10, "email"))
    assert [r.channel.value for r in await deliveries(sessions)] == ["email"]


# ---- the claim and an in-process send -----------------------------------------------------------


async def test_a_claim_is_exclusive_until_its_lease_ends(
    alice: Caller, sessions: Sessions, settings: Settings
) -> None:
    event = await timed_event(alice, T0 + timedelta(minutes=10))
    await remind(alice, event["id"], (10, "in_app"))
    await set_mark(sessions, T0 - timedelta(minutes=1))
    (delivery_id,) = (await scan(sessions, settings, T0)).to_send
    lease = timedelta(seconds=settings.reminders_lease_seconds)
    async with sessions() as db:
        first = await delivery.claim(db, delivery_id, T0, lease)
        assert first is not None
        assert (first.status, first.attempts) == (DeliveryStatus.SENDING, 1)
        assert await delivery.claim(db, delivery_id, T0 + lease - timedelta(seconds=1), lease) is None
        # The first claimer vanished: after the lease the row is claimable again, once.
        second = await delivery.claim(db, delivery_id, T0 + lease, lease)
        assert second is not None
        assert second.attempts == 2
        assert await delivery.claim(db, delivery_id, T0 + lease, lease) is None


async def test_an_in_app_reminder_is_written_once_and_marked_sent(
    alice: Caller, sessions: Sessions, settings: Settings
) -> None:
    event = await timed_event(alice, T0 + timedelta(minutes=10), summary="Dentist")
    await remind(alice, event["id"], (10, "in_app"))
    await set_mark(sessions, T0 - timedelta(minutes=1))
    (delivery_id,) = (await scan(sessions, settings, T0)).to_send
    sent_before = REGISTRY.get_sample_value(
        "aiwfe_reminders_sent_total", {"channel": "in_app", "late": "false"}
    )

    outcomes = await asyncio.gather(
        *(
            delivery.deliver(sessions, settings, delivery_id, lambda: T0 + timedelta(seconds=5))
            for _ in range(3)
        )
    )
    assert sorted(outcomes) == ["not-claimed", "not-claimed", "sent"]
    async with sessions() as db:
        (note,) = (await db.scalars(select(Notification))).all()
        row = await db.get(Delivery, delivery_id)
    assert row is not None
    assert (row.status, row.sent_at) == (DeliveryStatus.SENT, T0 + timedelta(seconds=5))
    assert note.title == "Reminder: Dentist"
    assert note.data["occurrence"] == "2031-05-06T07:10:00Z"
    assert (
        REGISTRY.get_sample_value("aiwfe_reminders_sent_total", {"channel": "in_app", "late": "false"})
        == (sent_before or 0) + 1
    )
    listed = (await alice.get("/api/v1/notifications")).json()
    assert [n["title"] for n in listed["items"]] == ["Reminder: Dentist"]


async def test_a_missing_webhook_url_fails_at_once(
    alice: Caller, sessions: Sessions, settings: Settings
) -> None:
    event = await timed_event(alice, T0 + timedelta(minutes=10))
    await remind(alice, event["id"], (10, "webhook"))
    await set_mark(sessions, T0 - timedelta(minutes=1))
    (delivery_id,) = (await scan(sessions, settings, T0)).to_send
    failed_before = REGISTRY.get_sample_value("aiwfe_reminders_failed_total", {"channel": "webhook"}) or 0
    assert await delivery.deliver(sessions, settings, delivery_id, lambda: T0) == "failed"
    async with sessions() as db:
        row = await db.get(Delivery, delivery_id)
    assert row is not None
    assert row.status is DeliveryStatus.FAILED
    assert "no webhook URL" in (row.error or "")
    assert (
        REGISTRY.get_sample_value("aiwfe_reminders_failed_total", {"channel": "webhook"}) == failed_before + 1
    )
    assert (await scan(sessions, settings, T0 + timedelta(minutes=5))).to_send == []
