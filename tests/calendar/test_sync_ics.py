"""Subscribed ICS URLs: the first sync by the real worker, conditional GETs, changes mirrored with stable
event ids and a version bump, read-only events, and failing remotes leaving the calendar untouched."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from tests.auth.conftest import Api
from tests.calendar import sync_support
from tests.calendar.conftest import Caller
from tests.calendar.sync_support import (
    IcsServer,
    calendar_of,
    event_rows,
    run_sync,
    vcalendar,
    vevent,
    wait_for_status,
)
from tests.processes import RunningProcess

from aiwfe.calendar.sync.tasks import SYNC_DUE
from aiwfe.core.settings import Settings
from aiwfe.worker.app import create_celery

enqueued = sync_support.enqueued
ics_server = sync_support.ics_server
sync_settings = sync_support.sync_settings
settings = sync_support.loopback_settings
MONTH = {"start": "2026-03-01T00:00:00Z", "end": "2026-04-01T00:00:00Z"}
WEEKLY = vevent("standup", "Standup", extra="RRULE:FREQ=WEEKLY;COUNT=3\r\n")


async def _ics_calendar(caller: Caller, url: str) -> dict[str, object]:
    return await caller.calendar(name="Holidays", source="ics", source_url=url, time_zone="Europe/Berlin")


async def test_an_ics_calendar_gets_its_first_sync_from_the_worker(
    worker: RunningProcess, alice: Caller, ics_server: IcsServer
) -> None:
    ics_server.serve("/team.ics", vcalendar(vevent("a", "Kickoff"), WEEKLY), headers={"ETag": '"v1"'})
    created = await _ics_calendar(alice, ics_server.url("/team.ics"))
    assert created["sync_status"] == "pending"
    assert created["read_only"] is True
    assert created["source_url"] == ics_server.url("/team.ics")
    synced = await wait_for_status(alice, str(created["id"]), {"ok", "error"})
    assert synced["sync_status"] == "ok", synced["sync_error"]
    assert synced["last_synced_at"] is not None
    assert synced["version"] > created["version"]
    items = await alice.occurrences(**MONTH, calendar=created["id"])
    assert sorted(i["summary"] for i in items) == ["Kickoff", "Standup", "Standup", "Standup"]


async def test_a_second_sync_sends_the_etag_and_a_304_changes_nothing(
    alice: Caller, ics_server: IcsServer, sync_settings: Settings, enqueued: list[uuid.UUID]
) -> None:
    ics_server.serve(
        "/a.ics",
        vcalendar(vevent("a", "Kickoff")),
        headers={"ETag": '"v1"', "Last-Modified": "Tue, 10 Mar 2026 09:00:00 GMT"},
    )
    calendar = await _ics_calendar(alice, ics_server.url("/a.ics"))
    assert enqueued == [uuid.UUID(str(calendar["id"]))]
    assert await run_sync(sync_settings, calendar["id"]) == "changed"
    after_first = await calendar_of(alice, str(calendar["id"]))
    assert await run_sync(sync_settings, calendar["id"]) == "unchanged"
    second = ics_server.hits("/a.ics")[-1]
    assert second["If-None-Match"] == '"v1"'
    assert second["If-Modified-Since"] == "Tue, 10 Mar 2026 09:00:00 GMT"
    after_second = await calendar_of(alice, str(calendar["id"]))
    assert after_second["version"] == after_first["version"]
    assert after_second["sync_status"] == "ok"


async def test_a_changed_file_is_mirrored_with_stable_ids_and_a_new_version(
    alice: Caller, ics_server: IcsServer, sync_settings: Settings, enqueued: list[uuid.UUID]
) -> None:
    ics_server.serve("/a.ics", vcalendar(vevent("a", "Kickoff"), vevent("b", "Review"), WEEKLY))
    calendar = await _ics_calendar(alice, ics_server.url("/a.ics"))
    await run_sync(sync_settings, calendar["id"])
    before = {uid: row_id for uid, _, _, row_id in await event_rows(sync_settings, calendar["id"])}
    version = (await calendar_of(alice, str(calendar["id"])))["version"]

    ics_server.serve(
        "/a.ics", vcalendar(vevent("a", "Kickoff"), vevent("b", "Review (moved)"), vevent("c", "New"))
    )
    assert await run_sync(sync_settings, calendar["id"]) == "changed"
    after = await event_rows(sync_settings, calendar["id"])
    assert [(uid, summary) for uid, _, summary, _ in after] == [
        ("a", "Kickoff"),
        ("b", "Review (moved)"),
        ("c", "New"),
    ]
    ids = {uid: row_id for uid, _, _, row_id in after}
    assert ids["a"] == before["a"]
    assert ids["b"] == before["b"]
    assert (await calendar_of(alice, str(calendar["id"])))["version"] > version


async def test_the_same_bytes_without_validators_change_nothing(
    alice: Caller, ics_server: IcsServer, sync_settings: Settings, enqueued: list[uuid.UUID]
) -> None:
    ics_server.serve("/a.ics", vcalendar(vevent("a", "Kickoff")))
    calendar = await _ics_calendar(alice, ics_server.url("/a.ics"))
    await run_sync(sync_settings, calendar["id"])
    version = (await calendar_of(alice, str(calendar["id"])))["version"]
    assert await run_sync(sync_settings, calendar["id"]) == "unchanged"
    assert (await calendar_of(alice, str(calendar["id"])))["version"] == version


BAD_REMOTES = [
    pytest.param({"body": b"this is not a calendar"}, "not a usable calendar", id="malformed"),
    pytest.param(
        {
            "body": vcalendar(
                vevent(
                    "x",
                    "Deep",
                    extra="BEGIN:VALARM\r\nBEGIN:X\r\nBEGIN:Y\r\nBEGIN:Z\r\nEND:Z\r\nEND:Y\r\nEND:X\r\nEND:VALARM\r\n",
                )
            )
        },
        "nested deeper",
        id="deeply-nested",
    ),
    pytest.param({"status": 401, "body": b"no"}, "refused the credentials (HTTP 401)", id="401"),
    pytest.param({"status": 404, "body": b"gone"}, "nothing at this address (HTTP 404)", id="404"),
    pytest.param({"status": 503, "body": b"busy"}, "answered HTTP 503", id="503"),
    pytest.param(
        {"body": vcalendar(vevent("a", "Kickoff")), "delay": 3.0}, "did not answer within 2 s", id="timeout"
    ),
]


@pytest.mark.parametrize(("served", "reason"), BAD_REMOTES)
async def test_a_failing_remote_is_an_error_and_leaves_the_events_untouched(
    alice: Caller,
    ics_server: IcsServer,
    sync_settings: Settings,
    enqueued: list[uuid.UUID],
    served: dict[str, object],
    reason: str,
) -> None:
    ics_server.serve("/a.ics", vcalendar(vevent("a", "Kickoff"), WEEKLY))
    calendar = await _ics_calendar(alice, ics_server.url("/a.ics"))
    await run_sync(sync_settings, calendar["id"])
    rows = await event_rows(sync_settings, calendar["id"])
    good = await calendar_of(alice, str(calendar["id"]))

    ics_server.serve("/a.ics", **served)  # type: ignore[arg-type]
    settings = sync_settings.model_copy(update={"calendar_sync_attempts": 2})
    assert await run_sync(settings, calendar["id"]) == "error"
    failed = await calendar_of(alice, str(calendar["id"]))
    assert failed["sync_status"] == "error"
    assert reason in failed["sync_error"]
    assert failed["version"] == good["version"]
    assert failed["last_synced_at"] == good["last_synced_at"]
    assert await event_rows(sync_settings, calendar["id"]) == rows


async def test_a_server_error_is_retried_before_giving_up(
    alice: Caller, ics_server: IcsServer, sync_settings: Settings, enqueued: list[uuid.UUID]
) -> None:
    ics_server.serve("/a.ics", b"busy", status=503)
    calendar = await _ics_calendar(alice, ics_server.url("/a.ics"))
    assert (
        await run_sync(sync_settings.model_copy(update={"calendar_sync_attempts": 3}), calendar["id"])
        == "error"
    )
    assert len(ics_server.hits("/a.ics")) == 3


async def test_a_file_over_the_event_limit_is_refused(
    alice: Caller, ics_server: IcsServer, sync_settings: Settings, enqueued: list[uuid.UUID]
) -> None:
    ics_server.serve("/a.ics", vcalendar(*(vevent(f"e{i}", "x") for i in range(5))))
    calendar = await _ics_calendar(alice, ics_server.url("/a.ics"))
    small = sync_settings.model_copy(update={"calendar_import_max_events": 3})
    assert await run_sync(small, calendar["id"]) == "error"
    failed = await calendar_of(alice, str(calendar["id"]))
    assert "more than 3 events" in failed["sync_error"]
    assert await event_rows(small, calendar["id"]) == []


async def test_an_answer_over_the_outbound_size_cap_is_refused(
    alice: Caller, ics_server: IcsServer, sync_settings: Settings, enqueued: list[uuid.UUID]
) -> None:
    ics_server.serve("/big.ics", vcalendar(*(vevent(f"e{i}", "x" * 50) for i in range(40))))
    calendar = await _ics_calendar(alice, ics_server.url("/big.ics"))
    capped = sync_settings.model_copy(update={"calendar_sync_max_bytes": 1024})
    assert await run_sync(capped, calendar["id"]) == "error"
    failed = await calendar_of(alice, str(calendar["id"]))
    assert "larger than 1024 bytes" in failed["sync_error"]
    assert await event_rows(capped, calendar["id"]) == []


async def test_loopback_sources_are_refused_unless_allowed(
    alice: Caller, ics_server: IcsServer, base_settings: Settings, enqueued: list[uuid.UUID]
) -> None:
    ics_server.serve("/a.ics", vcalendar(vevent("a", "Kickoff")))
    calendar = await _ics_calendar(alice, ics_server.url("/a.ics"))  # allowed when it was created
    assert await run_sync(base_settings, calendar["id"]) == "error"  # and no longer
    failed = await calendar_of(alice, str(calendar["id"]))
    assert "private or local network" in failed["sync_error"]
    assert ics_server.hits("/a.ics") == []


async def test_events_of_an_ics_calendar_are_read_only(
    alice: Caller, ics_server: IcsServer, sync_settings: Settings, enqueued: list[uuid.UUID]
) -> None:
    ics_server.serve("/a.ics", vcalendar(vevent("a", "Kickoff")))
    calendar = await _ics_calendar(alice, ics_server.url("/a.ics"))
    await run_sync(sync_settings, calendar["id"])
    (_, _, _, event_id) = (await event_rows(sync_settings, calendar["id"]))[0]
    attempts = [
        await alice.post(
            "/api/v1/events",
            json={"calendar_id": calendar["id"], "start": {"date_time": "2026-03-02T10:00:00Z"}},
        ),
        await alice.patch(f"/api/v1/events/{event_id}", json={"summary": "mine"}),
        await alice.delete(f"/api/v1/events/{event_id}"),
        await alice.post(
            f"/api/v1/calendars/{calendar['id']}/import",
            content=vcalendar(vevent("z", "Z")),
            headers={"Content-Type": "text/calendar"},
        ),
    ]
    for response in attempts:
        assert response.status_code == 409, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/calendar-read-only")
    assert [row[2] for row in await event_rows(sync_settings, calendar["id"])] == ["Kickoff"]


async def test_sync_now_is_202_pending_and_409_for_a_local_calendar(
    alice: Caller, bob: Caller, ics_server: IcsServer, enqueued: list[uuid.UUID]
) -> None:
    calendar = await _ics_calendar(alice, ics_server.url("/a.ics"))
    response = await alice.post(f"/api/v1/calendars/{calendar['id']}/sync")
    assert response.status_code == 202
    assert response.json()["sync_status"] == "pending"
    assert enqueued == [uuid.UUID(str(calendar["id"]))] * 2
    local = await alice.calendar(name="Mine")
    assert local["read_only"] is False
    refused = await alice.post(f"/api/v1/calendars/{local['id']}/sync")
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/calendar-not-synced")
    assert (await bob.post(f"/api/v1/calendars/{calendar['id']}/sync")).status_code == 404
    assert len(enqueued) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"source": "ics"}, "source_url"),
        ({"source": "ics", "source_url": "ftp://example.com/a.ics"}, "source_url"),
        ({"source": "ics", "source_url": "not a url"}, "source_url"),
        ({"source": "ics", "source_url": "https://example.com/a.ics", "username": "u"}, "username"),
        ({"source": "local", "source_url": "https://example.com/a.ics"}, "source_url"),
        ({"source": "caldav", "source_url": "https://example.com/dav/", "username": "u"}, "password"),
        ({"source": "google"}, "connected_account_id"),
        ({"source": "ics", "source_url": "https://example.com/" + "a" * 2100}, "source_url"),
    ],
)
async def test_bad_source_fields_are_a_422_naming_the_field(
    alice: Caller, enqueued: list[uuid.UUID], body: dict[str, str], field: str
) -> None:
    response = await alice.post("/api/v1/calendars", json={"name": "x", **body})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in response.json()["detail"]
    assert enqueued == []


async def test_the_beat_scan_enqueues_due_calendars_and_the_worker_syncs_them(
    worker: RunningProcess,
    api: Api,
    alice: Caller,
    ics_server: IcsServer,
    settings: Settings,
    enqueued: list[uuid.UUID],
) -> None:
    ics_server.serve("/a.ics", vcalendar(vevent("a", "Kickoff")))
    calendar = await _ics_calendar(alice, ics_server.url("/a.ics"))
    assert enqueued == [uuid.UUID(str(calendar["id"]))]  # recorded, not sent: only the scan can run it
    result = api.app.state.celery.send_task(SYNC_DUE)
    assert await asyncio.to_thread(result.get, timeout=60) == 1
    synced = await wait_for_status(alice, str(calendar["id"]), {"ok", "error"})
    assert synced["sync_status"] == "ok", synced["sync_error"]
    # Synced just now: not due again until the interval has passed.
    again = api.app.state.celery.send_task(SYNC_DUE)
    assert await asyncio.to_thread(again.get, timeout=60) == 0


def test_beat_schedules_the_sync_scan(settings: Settings) -> None:
    (entry,) = [e for e in create_celery(settings).conf.beat_schedule.values() if e["task"] == SYNC_DUE]
    assert entry["schedule"] == settings.calendar_sync_scan_seconds


async def test_repeated_outages_open_the_circuit_and_later_runs_do_not_call_the_host(
    alice: Caller, ics_server: IcsServer, sync_settings: Settings, enqueued: list[uuid.UUID]
) -> None:
    ics_server.serve("/a.ics", b"down", status=503)
    calendar = await _ics_calendar(alice, ics_server.url("/a.ics"))
    settings = sync_settings.model_copy(
        update={"calendar_sync_attempts": 1, "calendar_sync_breaker_threshold": 2}
    )
    for _ in range(2):
        assert await run_sync(settings, calendar["id"]) == "error"
    assert len(ics_server.hits("/a.ics")) == 2
    ics_server.serve("/a.ics", vcalendar(vevent("a", "Kickoff")))
    assert await run_sync(settings, calendar["id"]) == "error"
    failed = await calendar_of(alice, str(calendar["id"]))
    assert "syncing with it is paused" in failed["sync_error"]
    assert len(ics_server.hits("/a.ics")) == 2
