"""Reminders API: reminders per event (validated, owner only), in-app notifications, the webhook secret."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from tests.calendar.conftest import Caller

from aiwfe.core.settings import Settings

START = {"date_time": "2031-05-06T09:00:00", "time_zone": "Europe/Berlin"}
END = {"date_time": "2031-05-06T10:00:00", "time_zone": "Europe/Berlin"}


async def _event(caller: Caller, **fields: Any) -> dict[str, Any]:
    calendar = await caller.calendar(time_zone="Europe/Berlin")
    return await caller.event(calendar["id"], summary="Standup", start=START, end=END, **fields)


async def test_reminders_are_replaced_and_listed_in_order(alice: Caller) -> None:
    event = await _event(alice)
    url = f"/api/v1/events/{event['id']}/reminders"
    assert (await alice.get(url)).json() == []
    wanted = [
        {"minutes_before": 10, "channel": "email"},
        {"minutes_before": 0, "channel": "in_app"},
        {"minutes_before": 40320, "channel": "webhook"},
    ]
    put = await alice.put(url, json=wanted)
    assert put.status_code == 200, put.text
    expected = sorted(wanted, key=lambda r: (r["minutes_before"], r["channel"]))
    assert put.json() == expected
    assert (await alice.get(url)).json() == expected
    assert (await alice.put(url, json=[{"minutes_before": 5, "channel": "in_app"}])).json() == [
        {"minutes_before": 5, "channel": "in_app"}
    ]


@pytest.mark.parametrize(
    "body",
    [
        [{"minutes_before": -1, "channel": "email"}],
        [{"minutes_before": 40321, "channel": "email"}],
        [{"minutes_before": 10, "channel": "sms"}],
        [{"minutes_before": 10}],
        [{"minutes_before": 10, "channel": "email", "extra": 1}],
        [{"minutes_before": m, "channel": "email"} for m in range(11)],
        [{"minutes_before": 10, "channel": "email"}, {"minutes_before": 10, "channel": "email"}],
        {"minutes_before": 10, "channel": "email"},
        "nonsense",
    ],
)
async def test_invalid_reminders_are_a_422_problem(alice: Caller, body: Any) -> None:
    event = await _event(alice)
    response = await alice.put(f"/api/v1/events/{event['id']}/reminders", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_another_users_event_is_not_found(alice: Caller, bob: Caller) -> None:
    event = await _event(alice)
    url = f"/api/v1/events/{event['id']}/reminders"
    assert (await bob.get(url)).status_code == 404
    response = await bob.put(url, json=[{"minutes_before": 5, "channel": "email"}])
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (await alice.get(f"/api/v1/events/{uuid.uuid4()}/reminders")).status_code == 404


async def test_an_override_stands_for_its_series(alice: Caller) -> None:
    series = await _event(alice, rrule="FREQ=DAILY;COUNT=5")
    edited = await alice.patch(
        f"/api/v1/events/{series['id']}",
        params={"scope": "occurrence", "recurrence_id": "2031-05-07T09:00:00"},
        json={"summary": "Moved standup"},
    )
    assert edited.status_code == 200, edited.text
    override_id = edited.json()["id"]
    assert override_id != series["id"]
    await alice.put(
        f"/api/v1/events/{override_id}/reminders", json=[{"minutes_before": 15, "channel": "in_app"}]
    )
    assert (await alice.get(f"/api/v1/events/{series['id']}/reminders")).json() == [
        {"minutes_before": 15, "channel": "in_app"}
    ]


async def test_webhook_secret_is_shown_once_and_rotates(alice: Caller) -> None:
    assert (await alice.get("/api/v1/reminders/webhook")).json()["url"] is None
    first = await alice.post("/api/v1/reminders/webhook", json={"url": "https://93.184.215.14/hook"})
    assert first.status_code == 200, first.text
    secret = first.json()["secret"]
    assert secret.startswith("whsec_")
    shown = (await alice.get("/api/v1/reminders/webhook")).json()
    assert shown["url"] == "https://93.184.215.14/hook"
    assert shown["secret"] is None
    moved = await alice.post("/api/v1/reminders/webhook", json={"url": "https://93.184.215.14:8443/hook"})
    assert moved.json()["secret"] is None
    rotated = await alice.post("/api/v1/reminders/webhook", json={"rotate_secret": True})
    assert rotated.json()["url"] == "https://93.184.215.14:8443/hook"
    assert rotated.json()["secret"] not in (None, secret)


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/hook", "file:///etc/passwd", "http://", "not a url", "http://user:pw@example.com/"],
)
async def test_webhook_urls_must_be_http_or_https(alice: Caller, url: str) -> None:
    response = await alice.post("/api/v1/reminders/webhook", json={"url": url})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:192.168.0.1]/hook",
        "http://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 of the metadata address
    ],
)
async def test_private_webhook_targets_are_refused_unless_allowed(
    alice: Caller, settings: Settings, url: str
) -> None:
    assert settings.outbound_allow_networks == ""
    response = await alice.post("/api/v1/reminders/webhook", json={"url": url})
    assert response.status_code == 422, response.text
    assert "only public addresses are called" in response.json()["detail"]


async def _notify(settings: Settings, user_email: str, count: int) -> None:
    engine = create_async_engine(settings.database_url.get_secret_value())
    async with engine.begin() as conn:
        for n in range(count):
            await conn.execute(
                text(
                    "INSERT INTO notifications (id, user_id, kind, title, created_at) "
                    "SELECT :id, id, 'event.reminder', :title, now() - make_interval(secs => :age) "
                    "FROM users WHERE email = :email"
                ),
                {"id": uuid.uuid4(), "title": f"n{n}", "age": n, "email": user_email},
            )
    await engine.dispose()


async def test_notifications_page_newest_first_and_mark_read(
    alice: Caller, bob: Caller, settings: Settings
) -> None:
    await _notify(settings, "alice@example.com", 5)
    first = (await alice.get("/api/v1/notifications", params={"limit": 2})).json()
    assert [n["title"] for n in first["items"]] == ["n0", "n1"]
    assert first["unread"] == 5
    second = (
        await alice.get("/api/v1/notifications", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()
    third = (
        await alice.get("/api/v1/notifications", params={"limit": 2, "cursor": second["next_cursor"]})
    ).json()
    assert [n["title"] for n in second["items"] + third["items"]] == ["n2", "n3", "n4"]
    assert third["next_cursor"] is None

    target = first["items"][0]["id"]
    assert (await bob.post(f"/api/v1/notifications/{target}/read")).status_code == 404
    read = await alice.post(f"/api/v1/notifications/{target}/read")
    assert read.status_code == 200
    assert read.json()["read_at"] is not None
    again = await alice.post(f"/api/v1/notifications/{target}/read")
    assert again.json()["read_at"] == read.json()["read_at"]
    unread = (await alice.get("/api/v1/notifications", params={"unread": "true"})).json()
    assert unread["unread"] == 4
    assert target not in [n["id"] for n in unread["items"]]
    assert (await bob.get("/api/v1/notifications")).json()["items"] == []


async def test_a_bad_cursor_is_a_422_problem(alice: Caller) -> None:
    response = await alice.get("/api/v1/notifications", params={"cursor": "bm90IGEgY3Vyc29y"})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
