"""Free/busy over my calendars: merged busy periods; transparent and cancelled events are free."""

from __future__ import annotations

from tests.calendar.conftest import Caller

DAY = {"start": "2024-03-04T00:00:00Z", "end": "2024-03-05T00:00:00Z"}


def _at(hour: str) -> dict[str, str]:
    return {"date_time": f"2024-03-04T{hour}:00"}


async def test_busy_periods_merge_and_skip_free_and_cancelled_time(alice: Caller) -> None:
    work = await alice.calendar(time_zone="UTC")
    home = await alice.calendar(name="Home", time_zone="UTC")
    await alice.event(work["id"], start=_at("09:00"), end=_at("10:00"))
    await alice.event(home["id"], start=_at("09:30"), end=_at("11:00"))
    await alice.event(work["id"], start=_at("13:00"), end=_at("14:00"), transparency="transparent")
    await alice.event(work["id"], start=_at("15:00"), end=_at("16:00"), status="cancelled")
    series = await alice.event(work["id"], start=_at("17:00"), end=_at("17:30"), rrule="FREQ=DAILY")
    await alice.patch(
        f"/api/v1/events/{series['id']}",
        params={"scope": "occurrence", "recurrence_id": "2024-03-05T17:00:00Z"},
        json={"status": "cancelled"},
    )
    response = await alice.get("/api/v1/freebusy", params=DAY)
    assert response.status_code == 200
    assert response.json()["busy"] == [
        {"start": "2024-03-04T09:00:00Z", "end": "2024-03-04T11:00:00Z"},
        {"start": "2024-03-04T17:00:00Z", "end": "2024-03-04T17:30:00Z"},
    ]
    next_day = await alice.get(
        "/api/v1/freebusy", params={"start": "2024-03-05T00:00:00Z", "end": "2024-03-06T00:00:00Z"}
    )
    assert next_day.json()["busy"] == []
    only_home = await alice.get("/api/v1/freebusy", params={**DAY, "calendar": home["id"]})
    assert only_home.json()["busy"] == [{"start": "2024-03-04T09:30:00Z", "end": "2024-03-04T11:00:00Z"}]


async def test_busy_time_is_clipped_to_the_range(alice: Caller) -> None:
    calendar = await alice.calendar()
    await alice.event(calendar["id"], start={"date_time": "2024-03-03T22:00:00"}, end=_at("02:00"))
    response = await alice.get("/api/v1/freebusy", params=DAY)
    assert response.json()["busy"] == [{"start": "2024-03-04T00:00:00Z", "end": "2024-03-04T02:00:00Z"}]
