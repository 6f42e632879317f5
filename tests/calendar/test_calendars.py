"""Calendars over the API: CRUD, validation naming the field, privacy between users, scopes."""

from __future__ import annotations

import pytest
from tests.calendar.conftest import Caller


async def test_a_calendar_is_created_listed_changed_and_deleted(alice: Caller) -> None:
    created = await alice.calendar(name="Home", color="#ff0000", time_zone="Europe/Berlin")
    assert created["source"] == "local"
    assert created["sync_status"] == "not_synced"
    assert created["feed_enabled"] is False
    listed = (await alice.get("/api/v1/calendars")).json()
    assert [c["id"] for c in listed] == [created["id"]]
    changed = await alice.patch(f"/api/v1/calendars/{created['id']}", json={"name": "House"})
    assert changed.status_code == 200
    assert changed.json()["name"] == "House"
    assert changed.json()["version"] > created["version"]
    assert (await alice.delete(f"/api/v1/calendars/{created['id']}")).status_code == 204
    assert (await alice.get(f"/api/v1/calendars/{created['id']}")).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "color": "red"}, "color"),
        ({"name": "x", "time_zone": "Mars/Olympus"}, "time_zone"),
        ({"name": "x", "source": "caldav"}, "source"),
        ({"name": "x" * 201}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x", "owner_id": "someone"}, "owner_id"),
    ],
)
async def test_bad_calendar_input_is_a_422_naming_the_field(
    alice: Caller, body: dict[str, str], field: str
) -> None:
    response = await alice.post("/api/v1/calendars", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert field in response.json()["detail"]


async def test_another_users_calendar_cannot_be_seen_changed_or_deleted(alice: Caller, bob: Caller) -> None:
    calendar = await alice.calendar()
    url = f"/api/v1/calendars/{calendar['id']}"
    assert (await bob.get("/api/v1/calendars")).json() == []
    assert (await bob.get(url)).status_code == 404
    assert (await bob.patch(url, json={"name": "mine"})).status_code == 404
    assert (await bob.delete(url)).status_code == 404
    assert (await bob.put(f"{url}/feed")).status_code == 404
    assert (await bob.get(f"{url}/export")).status_code == 404
    assert (await alice.get(url)).json()["name"] == "Work"


async def test_calendars_need_a_signed_in_caller_and_the_write_scope_to_change(alice: Caller) -> None:
    assert (await alice.http.get("/api/v1/calendars")).status_code == 401
    token = await alice.post("/api/v1/me/tokens", json={"name": "ro", "scopes": ["read"]})
    read_only = Caller(alice.http, {"Authorization": f"Bearer {token.json()['token']}"})
    assert (await read_only.get("/api/v1/calendars")).status_code == 200
    assert (await read_only.post("/api/v1/calendars", json={"name": "x"})).status_code == 403
