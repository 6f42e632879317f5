"""Editing and deleting one occurrence, this and the following ones (a series split), or the series."""

from __future__ import annotations

from typing import Any

from tests.calendar.conftest import Caller

RANGE = {"start": "2024-01-01T00:00:00Z", "end": "2024-02-01T00:00:00Z"}


async def _daily(caller: Caller, **extra: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    calendar = await caller.calendar(time_zone="UTC")
    series = await caller.event(
        calendar["id"],
        summary="Daily",
        start={"date_time": "2024-01-01T09:00:00"},
        end={"date_time": "2024-01-01T10:00:00"},
        rrule="FREQ=DAILY;COUNT=10",
        **extra,
    )
    return calendar, series


def _summaries(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(i["start"]["date_time"][:16], i["summary"]) for i in items]


async def test_editing_one_occurrence_leaves_the_others(alice: Caller) -> None:
    _, series = await _daily(alice)
    response = await alice.patch(
        f"/api/v1/events/{series['id']}",
        params={"scope": "occurrence", "recurrence_id": "2024-01-03T09:00:00Z"},
        json={"summary": "Special", "end": {"date_time": "2024-01-03T11:00:00"}},
    )
    assert response.status_code == 200, response.text
    assert response.json()["recurrence_id"] == "2024-01-03T09:00:00Z"
    items = await alice.occurrences(**RANGE)
    assert len(items) == 10
    assert [i["summary"] for i in items].count("Special") == 1
    special = next(i for i in items if i["summary"] == "Special")
    assert special["end"]["date_time"] == "2024-01-03T11:00:00Z"
    again = await alice.patch(f"/api/v1/events/{response.json()['id']}", json={"summary": "Special 2"})
    assert again.json()["id"] == response.json()["id"]


async def test_editing_this_and_following_splits_the_series(alice: Caller) -> None:
    _, series = await _daily(alice)
    await alice.patch(
        f"/api/v1/events/{series['id']}",
        params={"scope": "occurrence", "recurrence_id": "2024-01-08T09:00:00Z"},
        json={"summary": "Override"},
    )
    response = await alice.patch(
        f"/api/v1/events/{series['id']}",
        params={"scope": "following", "recurrence_id": "2024-01-06T09:00:00Z"},
        json={"summary": "Renamed"},
    )
    assert response.status_code == 200, response.text
    tail = response.json()
    assert tail["id"] != series["id"]
    assert tail["rrule"] == "FREQ=DAILY;COUNT=5"
    head = (await alice.get(f"/api/v1/events/{series['id']}")).json()
    assert head["rrule"] == "FREQ=DAILY;UNTIL=20240106T085959Z"
    items = await alice.occurrences(**RANGE)
    assert [s for _, s in _summaries(items)] == ["Daily"] * 5 + [
        "Renamed",
        "Renamed",
        "Override",
        "Renamed",
        "Renamed",
    ]
    assert items[7]["event_id"] == tail["id"]


async def test_changing_the_series_time_moves_every_occurrence_and_drops_its_exceptions(
    alice: Caller,
) -> None:
    _, series = await _daily(alice, exdates=["2024-01-02T09:00:00Z"])
    await alice.patch(
        f"/api/v1/events/{series['id']}",
        params={"scope": "occurrence", "recurrence_id": "2024-01-03T09:00:00Z"},
        json={"summary": "Special"},
    )
    renamed = await alice.patch(f"/api/v1/events/{series['id']}", json={"summary": "Renamed"})
    assert renamed.json()["exdates"] == ["2024-01-02T09:00:00Z"]
    assert len(await alice.occurrences(**RANGE)) == 9
    moved = await alice.patch(
        f"/api/v1/events/{series['id']}", json={"start": {"date_time": "2024-01-01T14:00:00"}}
    )
    assert moved.status_code == 200
    assert moved.json()["exdates"] == []
    assert moved.json()["end"]["date_time"] == "2024-01-01T15:00:00Z"
    items = await alice.occurrences(**RANGE)
    assert {(i["start"]["date_time"][11:16], i["summary"]) for i in items} == {("14:00", "Renamed")}
    assert len(items) == 10


async def test_deleting_one_occurrence_adds_an_exdate_and_removes_its_override(alice: Caller) -> None:
    _, series = await _daily(alice)
    await alice.patch(
        f"/api/v1/events/{series['id']}",
        params={"scope": "occurrence", "recurrence_id": "2024-01-04T09:00:00Z"},
        json={"summary": "Special"},
    )
    response = await alice.delete(
        f"/api/v1/events/{series['id']}",
        params={"scope": "occurrence", "recurrence_id": "2024-01-04T09:00:00"},
    )
    assert response.status_code == 204
    items = await alice.occurrences(**RANGE)
    assert len(items) == 9
    assert "Special" not in [i["summary"] for i in items]
    assert (await alice.get(f"/api/v1/events/{series['id']}")).json()["exdates"] == ["2024-01-04T09:00:00Z"]


async def test_deleting_this_and_following_ends_the_series_before_it(alice: Caller) -> None:
    _, series = await _daily(alice)
    response = await alice.delete(
        f"/api/v1/events/{series['id']}",
        params={"scope": "following", "recurrence_id": "2024-01-04T09:00:00Z"},
    )
    assert response.status_code == 204
    assert [d for d, _ in _summaries(await alice.occurrences(**RANGE))] == [
        "2024-01-01T09:00",
        "2024-01-02T09:00",
        "2024-01-03T09:00",
    ]


async def test_deleting_the_series_removes_it_and_its_overrides(alice: Caller) -> None:
    _, series = await _daily(alice)
    override = await alice.patch(
        f"/api/v1/events/{series['id']}",
        params={"scope": "occurrence", "recurrence_id": "2024-01-04T09:00:00Z"},
        json={"summary": "Special"},
    )
    assert (await alice.delete(f"/api/v1/events/{series['id']}")).status_code == 204
    assert await alice.occurrences(**RANGE) == []
    assert (await alice.get(f"/api/v1/events/{override.json()['id']}")).status_code == 404


async def test_an_occurrence_that_is_not_in_the_series_is_refused(alice: Caller) -> None:
    calendar, series = await _daily(alice)
    url = f"/api/v1/events/{series['id']}"
    off_time = await alice.patch(
        url, params={"scope": "occurrence", "recurrence_id": "2024-01-04T10:00:00Z"}, json={}
    )
    assert off_time.status_code == 404
    missing = await alice.patch(url, params={"scope": "occurrence"}, json={"summary": "x"})
    assert missing.status_code == 422
    assert "recurrence_id" in missing.json()["detail"]
    garbage = await alice.delete(url, params={"scope": "occurrence", "recurrence_id": "tuesday"})
    assert garbage.status_code == 422
    rule_on_one = await alice.patch(
        url,
        params={"scope": "occurrence", "recurrence_id": "2024-01-04T09:00:00Z"},
        json={"rrule": "FREQ=DAILY"},
    )
    assert rule_on_one.status_code == 422
    assert "rrule" in rule_on_one.json()["detail"]
    single = await alice.event(calendar["id"], start={"date_time": "2024-01-01T09:00:00"})
    not_recurring = await alice.patch(
        f"/api/v1/events/{single['id']}",
        params={"scope": "occurrence", "recurrence_id": "2024-01-01T09:00:00Z"},
        json={"summary": "x"},
    )
    assert not_recurring.status_code == 422
