"""Events over the API: create and read with ETags, validation naming the field, privacy between users."""

from __future__ import annotations

from typing import Any

import pytest
from tests.calendar.conftest import Caller

BERLIN_9 = {"date_time": "2024-03-04T09:00:00", "time_zone": "Europe/Berlin"}
BERLIN_10 = {"date_time": "2024-03-04T10:00:00", "time_zone": "Europe/Berlin"}


async def test_an_event_is_created_with_its_zone_and_read_back_with_an_etag(alice: Caller) -> None:
    calendar = await alice.calendar(time_zone="Europe/Berlin")
    created = await alice.event(
        calendar["id"], summary="Standup", start=BERLIN_9, end=BERLIN_10, rrule="freq=weekly;byday=mo"
    )
    assert created["start"] == {
        "date": None,
        "date_time": "2024-03-04T09:00:00+01:00",
        "time_zone": "Europe/Berlin",
    }
    assert created["rrule"] == "FREQ=WEEKLY;BYDAY=MO"
    assert created["uid"].endswith("@aiwfe")
    response = await alice.get(f"/api/v1/events/{created['id']}")
    assert response.headers["etag"] == f'"{created["etag"]}"'
    cached = await alice.get(
        f"/api/v1/events/{created['id']}", headers={"If-None-Match": response.headers["etag"]}
    )
    assert cached.status_code == 304


async def test_an_offset_time_is_kept_as_the_same_instant_in_the_calendars_zone(alice: Caller) -> None:
    calendar = await alice.calendar(time_zone="America/New_York")
    created = await alice.event(calendar["id"], start={"date_time": "2024-07-01T16:00:00Z"})
    assert created["start"]["date_time"] == "2024-07-01T12:00:00-04:00"
    assert created["start"]["time_zone"] == "America/New_York"


async def test_an_all_day_event_lasts_a_day_by_default(alice: Caller) -> None:
    calendar = await alice.calendar()
    created = await alice.event(calendar["id"], start={"date": "2024-12-24"})
    assert (created["all_day"], created["end"]["date"]) == (True, "2024-12-25")


async def test_a_stale_if_match_is_refused_with_412(alice: Caller) -> None:
    calendar = await alice.calendar()
    created = await alice.event(calendar["id"], start=BERLIN_9, end=BERLIN_10)
    url = f"/api/v1/events/{created['id']}"
    first = await alice.patch(url, json={"summary": "a"}, headers={"If-Match": f'"{created["etag"]}"'})
    assert first.status_code == 200
    assert first.json()["sequence"] == 1
    stale = await alice.patch(url, json={"summary": "b"}, headers={"If-Match": f'"{created["etag"]}"'})
    assert stale.status_code == 412
    assert (await alice.get(url)).json()["summary"] == "a"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"start": BERLIN_10, "end": BERLIN_9}, "end"),
        ({"start": {"date_time": "2024-03-04T09:00:00", "time_zone": "Mars/Olympus"}}, "time_zone"),
        ({"start": BERLIN_9, "rrule": "FREQ=SOMETIMES"}, "rrule"),
        ({"start": BERLIN_9, "rrule": "FREQ=SECONDLY"}, "rrule"),
        ({"start": BERLIN_9, "rrule": "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30"}, "rrule"),
        ({"start": BERLIN_9, "exdates": ["yesterday"]}, "exdates"),
        ({"start": BERLIN_9, "summary": "x" * 501}, "summary"),
        ({"start": {"date": "2024-03-04", "date_time": "2024-03-04T09:00:00"}}, "start"),
        ({"start": {"date": "2024-03-04"}, "end": BERLIN_10}, "end"),
        ({"start": {"date_time": "3024-03-04T09:00:00"}}, "start"),
        ({"start": BERLIN_9, "status": "maybe"}, "status"),
        ({"start": BERLIN_9, "rdates": ["2024-01-01T00:00:00Z"] * 1001}, "rdates"),
    ],
)
async def test_bad_event_input_is_a_422_naming_the_field(
    alice: Caller, fields: dict[str, Any], field: str
) -> None:
    calendar = await alice.calendar()
    response = await alice.post("/api/v1/events", json={"calendar_id": calendar["id"], **fields})
    assert response.status_code == 422, response.text
    assert field in response.json()["detail"]


async def test_a_uid_is_unique_within_a_calendar(alice: Caller) -> None:
    calendar = await alice.calendar()
    await alice.event(calendar["id"], uid="same@x", start=BERLIN_9)
    again = await alice.post(
        "/api/v1/events", json={"calendar_id": calendar["id"], "uid": "same@x", "start": BERLIN_9}
    )
    assert again.status_code == 409
    assert "uid" in again.json()["detail"].lower()


async def test_another_users_events_cannot_be_read_changed_deleted_or_listed(
    alice: Caller, bob: Caller
) -> None:
    calendar = await alice.calendar()
    event = await alice.event(calendar["id"], summary="secret", start=BERLIN_9, rrule="FREQ=DAILY")
    url = f"/api/v1/events/{event['id']}"
    assert (await bob.get(url)).status_code == 404
    assert (await bob.patch(url, json={"summary": "mine"})).status_code == 404
    occurrence = "2024-03-05T08:00:00Z"
    assert (
        await bob.patch(
            url, params={"scope": "occurrence", "recurrence_id": occurrence}, json={"summary": "x"}
        )
    ).status_code == 404
    assert (await bob.delete(url)).status_code == 404
    planted = await bob.post("/api/v1/events", json={"calendar_id": calendar["id"], "start": BERLIN_9})
    assert planted.status_code == 404
    window = {"start": "2024-03-01T00:00:00Z", "end": "2024-04-01T00:00:00Z"}
    assert await bob.occurrences(**window) == []
    assert (await bob.get("/api/v1/events", params={**window, "calendar": calendar["id"]})).status_code == 404
    busy = await bob.get("/api/v1/freebusy", params=window)
    assert busy.json()["busy"] == []
    assert (await alice.get(url)).json()["summary"] == "secret"


async def test_a_writes_answer_is_what_a_read_then_finds(alice: Caller) -> None:
    """The create and the edit answer without reading the row back after commit: the server-set timestamps
    come back with the INSERT and the UPDATE, so the answer must equal the next read, not the row before."""
    calendar = await alice.calendar()
    created = await alice.event(calendar["id"], start=BERLIN_9, end=BERLIN_10)
    url = f"/api/v1/events/{created['id']}"
    assert (await alice.get(url)).json() == created
    patched = await alice.patch(url, json={"summary": "moved"})
    assert patched.status_code == 200
    assert patched.json() == (await alice.get(url)).json()
    assert patched.json()["updated_at"] > created["updated_at"]
    assert patched.json()["created_at"] == created["created_at"]
