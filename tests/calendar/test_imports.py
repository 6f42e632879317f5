"""ICS import (in the request and as a worker job with progress), export, and the secret feed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import icalendar
from httpx import AsyncClient
from tests.calendar.conftest import Caller, sign_up
from tests.processes import RunningProcess

SAMPLE = (Path(__file__).parent / "sample.ics").read_bytes()
ICS = {"Content-Type": "text/calendar"}
SPRING = {"start": "2024-02-25T00:00:00Z", "end": "2024-04-30T00:00:00Z"}


def _many(count: int, *, broken_at: int | None = None) -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:test"]
    for n in range(count):
        rule = "RRULE:FREQ=SECONDLY" if n == broken_at else "RRULE:FREQ=WEEKLY;COUNT=3"
        lines += [
            "BEGIN:VEVENT",
            f"UID:bulk-{n}@example.com",
            "DTSTAMP:20240101T000000Z",
            f"DTSTART;TZID=Europe/Berlin:202403{n % 28 + 1:02d}T{n % 24:02d}0000",
            "DURATION:PT1H",
            rule,
            f"SUMMARY:Bulk {n}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


async def test_an_import_keeps_uids_zones_recurrence_and_overrides(alice: Caller) -> None:
    calendar = await alice.calendar(time_zone="Europe/Berlin")
    response = await alice.post(f"/api/v1/calendars/{calendar['id']}/import", content=SAMPLE, headers=ICS)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "succeeded"
    assert (response.json()["total"], response.json()["created"]) == (4, 3)
    items = await alice.occurrences(**SPRING)
    standups = [i for i in items if i["uid"] == "standup@example.com"]
    assert [i["start"]["date_time"][:16] for i in standups] == [
        "2024-03-04T09:00",
        "2024-03-11T09:00",
        "2024-03-25T09:00",
        "2024-04-01T11:00",
        "2024-04-08T09:00",
        "2024-04-15T09:00",
        "2024-04-22T09:00",
        "2024-04-29T09:00",
    ]
    assert standups[3]["summary"] == "Standup (moved)"
    assert {i["start"]["time_zone"] for i in standups} == {"Europe/Berlin"}

    again = await alice.post(f"/api/v1/calendars/{calendar['id']}/import", content=SAMPLE, headers=ICS)
    assert (again.json()["created"], again.json()["updated"]) == (0, 3)
    assert len(await alice.occurrences(**SPRING)) == len(items)


async def test_a_bad_file_is_refused_whole_with_the_reason(alice: Caller) -> None:
    calendar = await alice.calendar()
    response = await alice.post(
        f"/api/v1/calendars/{calendar['id']}/import", content=_many(5, broken_at=3), headers=ICS
    )
    assert response.status_code == 422
    assert "bulk-3@example.com" in response.json()["detail"]
    assert "RRULE" in response.json()["detail"]
    assert await alice.occurrences(**SPRING) == []


async def test_an_import_into_another_users_calendar_is_not_found_and_changes_nothing(
    alice: Caller, bob: Caller
) -> None:
    calendar = await alice.calendar(time_zone="Europe/Berlin")
    response = await bob.post(f"/api/v1/calendars/{calendar['id']}/import", content=SAMPLE, headers=ICS)
    assert response.status_code == 404, response.text
    assert response.json()["type"].endswith("/calendar-not-found")
    assert await alice.occurrences(**SPRING) == []


async def test_an_upload_over_the_limit_is_413(alice: Caller) -> None:
    calendar = await alice.calendar()
    huge = b"X" * (10 * 1024 * 1024 + 1)
    response = await alice.post(f"/api/v1/calendars/{calendar['id']}/import", content=huge, headers=ICS)
    assert response.status_code == 413


async def _finished(caller: Caller, url: str) -> dict[str, Any]:
    for _ in range(300):
        job: dict[str, Any] = (await caller.get(url)).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"import {url} did not finish")


async def test_a_large_import_runs_as_a_worker_job_with_progress(
    worker: RunningProcess, small_inline_api: AsyncClient
) -> None:
    carol = await sign_up(small_inline_api, "carol@example.com")
    calendar = await carol.calendar(time_zone="Europe/Berlin")
    response = await carol.post(
        f"/api/v1/calendars/{calendar['id']}/import", content=_many(1200), headers=ICS
    )
    assert response.status_code == 202, response.text
    job = await _finished(carol, response.headers["location"])
    assert job["status"] == "succeeded", job
    assert (job["total"], job["processed"], job["created"]) == (1200, 1200, 1200)
    items = await carol.occurrences(**SPRING, calendar=calendar["id"])
    assert len(items) == 3600


async def test_a_hostile_large_import_fails_as_a_job_and_imports_nothing(
    worker: RunningProcess, small_inline_api: AsyncClient
) -> None:
    dave = await sign_up(small_inline_api, "dave@example.com")
    calendar = await dave.calendar()
    response = await dave.post(
        f"/api/v1/calendars/{calendar['id']}/import", content=_many(50, broken_at=40), headers=ICS
    )
    assert response.status_code == 202
    job = await _finished(dave, response.headers["location"])
    assert job["status"] == "failed"
    assert "bulk-40@example.com" in job["error"]
    assert await dave.occurrences(**SPRING) == []


async def test_export_reparses_and_keeps_the_series(alice: Caller) -> None:
    calendar = await alice.calendar(time_zone="Europe/Berlin")
    await alice.post(f"/api/v1/calendars/{calendar['id']}/import", content=SAMPLE, headers=ICS)
    response = await alice.get(f"/api/v1/calendars/{calendar['id']}/export")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    parsed = icalendar.Calendar.from_ical(response.content)
    events = parsed.walk("VEVENT")
    assert len(events) == 4
    standup = next(e for e in events if e["UID"] == "standup@example.com" and "RECURRENCE-ID" not in e)
    assert standup["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert "RRULE" in standup
    assert [tz["TZID"] for tz in parsed.walk("VTIMEZONE")] == ["Europe/Berlin"]


async def test_the_feed_url_works_without_signing_in_until_rotated_or_revoked(alice: Caller) -> None:
    calendar = await alice.calendar()
    await alice.event(calendar["id"], summary="Public", start={"date_time": "2024-03-05T10:00:00"})
    feed = (await alice.put(f"/api/v1/calendars/{calendar['id']}/feed")).json()
    assert feed["url"].startswith("http://testserver/api/v1/feeds/")
    path = feed["url"].removeprefix("http://testserver")
    first = await alice.http.get(path)
    assert first.status_code == 200
    assert b"SUMMARY:Public" in first.content
    assert (await alice.http.get(path, headers={"If-None-Match": first.headers["etag"]})).status_code == 304
    assert (await alice.get(f"/api/v1/calendars/{calendar['id']}")).json()["feed_enabled"] is True

    rotated = (await alice.put(f"/api/v1/calendars/{calendar['id']}/feed")).json()
    assert (await alice.http.get(path)).status_code == 404
    new_path = rotated["url"].removeprefix("http://testserver")
    assert (await alice.http.get(new_path)).status_code == 200
    assert (await alice.delete(f"/api/v1/calendars/{calendar['id']}/feed")).status_code == 204
    assert (await alice.http.get(new_path)).status_code == 404
    assert (await alice.http.get("/api/v1/feeds/" + "a" * 43 + ".ics")).status_code == 404
