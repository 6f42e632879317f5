"""The range query GET /events: server-side expansion across DST with exceptions merged, pagination,
ETag / If-None-Match, caps and bad queries."""

from __future__ import annotations

from tests.calendar.conftest import Caller

MARCH = {"start": "2024-03-01T00:00:00Z", "end": "2024-04-15T00:00:00Z"}


async def _standup(caller: Caller, calendar_id: str, **extra: object) -> dict[str, object]:
    return await caller.event(
        calendar_id,
        summary="Standup",
        start={"date_time": "2024-03-04T09:00:00", "time_zone": "Europe/Berlin"},
        end={"date_time": "2024-03-04T09:15:00", "time_zone": "Europe/Berlin"},
        rrule="FREQ=WEEKLY;BYDAY=MO;COUNT=6",
        **extra,
    )


async def test_a_weekly_series_is_expanded_at_the_same_local_time_across_dst(alice: Caller) -> None:
    calendar = await alice.calendar(time_zone="Europe/Berlin")
    await _standup(alice, calendar["id"], exdates=["2024-03-18T09:00:00"])
    items = await alice.occurrences(**MARCH)
    assert [i["start"]["date_time"] for i in items] == [
        "2024-03-04T09:00:00+01:00",
        "2024-03-11T09:00:00+01:00",
        "2024-03-25T09:00:00+01:00",
        "2024-04-01T09:00:00+02:00",
        "2024-04-08T09:00:00+02:00",
    ]
    assert [i["end"]["date_time"][11:16] for i in items] == ["09:15"] * 5
    assert all(i["recurring"] for i in items)
    assert items[0]["recurrence_id"] == "2024-03-04T08:00:00Z"


async def test_an_override_replaces_its_occurrence_even_when_moved_out_of_the_range(alice: Caller) -> None:
    calendar = await alice.calendar(time_zone="Europe/Berlin")
    series = await _standup(alice, calendar["id"])
    moved = await alice.patch(
        f"/api/v1/events/{series['id']}",
        params={"scope": "occurrence", "recurrence_id": "2024-03-11T08:00:00Z"},
        json={
            "start": {"date_time": "2024-05-20T10:00:00", "time_zone": "Europe/Berlin"},
            "summary": "Later",
        },
    )
    assert moved.status_code == 200, moved.text
    items = await alice.occurrences(**MARCH)
    assert "2024-03-11T08:00:00Z" not in [i["recurrence_id"] for i in items]
    may = await alice.occurrences("2024-05-01T00:00:00Z", "2024-06-01T00:00:00Z")
    assert [(i["summary"], i["recurrence_id"], i["event_id"]) for i in may] == [
        ("Later", "2024-03-11T08:00:00Z", series["id"])
    ]
    assert may[0]["override_id"] == moved.json()["id"]


async def test_all_day_events_fall_on_their_date_in_the_calendars_zone(alice: Caller) -> None:
    calendar = await alice.calendar(time_zone="Asia/Tokyo")
    await alice.event(calendar["id"], summary="Holiday", start={"date": "2024-05-03"})
    # 2024-05-02T15:00Z is midnight of May 3 in Tokyo.
    assert await alice.occurrences("2024-05-02T14:00:00Z", "2024-05-02T15:00:00Z") == []
    items = await alice.occurrences("2024-05-02T15:00:00Z", "2024-05-02T16:00:00Z")
    assert [(i["summary"], i["start"]["date"], i["all_day"]) for i in items] == [
        ("Holiday", "2024-05-03", True)
    ]


async def test_pages_follow_the_cursor_without_gaps_or_repeats(alice: Caller) -> None:
    calendar = await alice.calendar()
    await alice.event(calendar["id"], start={"date_time": "2024-03-01T08:00:00"}, rrule="FREQ=DAILY;COUNT=30")
    await alice.event(calendar["id"], start={"date_time": "2024-03-01T08:00:00"}, rrule="FREQ=DAILY;COUNT=10")
    all_items = await alice.occurrences(**MARCH)
    paged = await alice.occurrences(**MARCH, limit=7)
    assert len(all_items) == 40
    assert [i["id"] for i in paged] == [i["id"] for i in all_items]
    assert len({i["id"] for i in paged}) == 40
    starts = [i["start"]["date_time"] for i in paged]
    assert starts == sorted(starts)


async def test_an_unchanged_range_answers_304_and_a_change_gives_a_new_etag(alice: Caller) -> None:
    calendar = await alice.calendar()
    event = await alice.event(calendar["id"], start={"date_time": "2024-03-05T08:00:00"})
    first = await alice.get("/api/v1/events", params=MARCH)
    etag = first.headers["etag"]
    again = await alice.get("/api/v1/events", params=MARCH, headers={"If-None-Match": etag})
    assert again.status_code == 304
    await alice.patch(f"/api/v1/events/{event['id']}", json={"summary": "changed"})
    changed = await alice.get("/api/v1/events", params=MARCH, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.json()["items"][0]["summary"] == "changed"
    assert changed.headers["etag"] != etag


async def test_a_runaway_series_is_capped_and_flagged(alice: Caller) -> None:
    calendar = await alice.calendar()
    await alice.event(calendar["id"], start={"date_time": "2024-01-01T00:00:00"}, rrule="FREQ=HOURLY")
    response = await alice.get(
        "/api/v1/events", params={"start": "2024-01-01T00:00:00Z", "end": "2025-01-01T00:00:00Z", "limit": 10}
    )
    assert response.status_code == 200
    assert response.json()["truncated"] is True


async def test_bad_range_queries_are_422_naming_the_parameter(alice: Caller) -> None:
    cases = [
        ({"start": "2024-03-01T00:00:00", "end": "2024-03-02T00:00:00Z"}, "start"),
        ({"start": "2024-03-02T00:00:00Z", "end": "2024-03-01T00:00:00Z"}, "end"),
        ({"start": "2024-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "end"),
        ({"start": "soon", "end": "2024-03-01T00:00:00Z"}, "start"),
        ({**MARCH, "cursor": "garbage!"}, "cursor"),
        ({**MARCH, "limit": 100000}, "limit"),
        ({**MARCH, "calendar": "not-a-uuid"}, "calendar"),
    ]
    for params, field in cases:
        response = await alice.get("/api/v1/events", params=params)
        assert response.status_code == 422, (params, response.text)
        assert field in response.json()["detail"], (params, response.json())
