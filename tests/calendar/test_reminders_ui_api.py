"""The reminders endpoints the web UI needs: mark all read, the webhook's recent deliveries, a test POST."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from tests.calendar.conftest import Caller
from tests.calendar.test_reminders_api import _event, _notify
from tests.calendar.test_reminders_delivery import Receiver

from aiwfe.calendar.reminders import webhook
from aiwfe.core.settings import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Webhooks to the test's receiver on 127.0.0.1 allowed, one quick try per send."""
    return settings.model_copy(
        update={
            "outbound_allow_networks": "127.0.0.1/32",
            "reminders_webhook_attempts": 1,
            "reminders_webhook_backoff_seconds": 0.01,
        }
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver().start()
    yield found
    found.stop()


async def test_mark_all_read_marks_only_the_callers_unread(
    alice: Caller, bob: Caller, settings: Settings
) -> None:
    await _notify(settings, "alice@example.com", 3)
    await _notify(settings, "bob@example.com", 2)
    first = (await alice.get("/api/v1/notifications")).json()["items"][0]["id"]
    await alice.post(f"/api/v1/notifications/{first}/read")
    marked = await alice.post("/api/v1/notifications/read-all")
    assert marked.status_code == 200, marked.text
    assert marked.json() == {"marked": 2}
    page = (await alice.get("/api/v1/notifications")).json()
    assert page["unread"] == 0
    assert all(n["read_at"] for n in page["items"])
    assert (await bob.get("/api/v1/notifications")).json()["unread"] == 2
    assert (await alice.post("/api/v1/notifications/read-all")).json() == {"marked": 0}


async def test_test_delivery_posts_a_signed_body_and_reports_the_answer(
    alice: Caller, receiver: Receiver
) -> None:
    secret = (await alice.post("/api/v1/reminders/webhook", json={"url": receiver.url})).json()["secret"]
    answer = await alice.post("/api/v1/reminders/webhook/test")
    assert answer.status_code == 200, answer.text
    assert answer.json()["ok"] is True
    assert answer.json()["status_code"] == 200
    (request,) = receiver.requests
    assert b'"type":"webhook.test"' in request.body
    assert webhook.verify(secret, request.body, dict(request.headers))

    receiver.statuses.append(410)
    refused = (await alice.post("/api/v1/reminders/webhook/test")).json()
    assert refused["ok"] is False
    assert refused["status_code"] == 410
    assert "410" in refused["detail"]


async def test_test_delivery_without_a_url_is_a_422_on_the_url(alice: Caller) -> None:
    response = await alice.post("/api/v1/reminders/webhook/test")
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == "url"


async def test_webhook_deliveries_are_the_callers_latest_webhook_ones(
    alice: Caller, bob: Caller, settings: Settings
) -> None:
    event = await _event(alice)
    engine = create_async_engine(settings.database_url.get_secret_value())
    async with engine.begin() as conn:
        rows = [("webhook", "sent"), ("webhook", "failed"), ("email", "sent")]
        for n, (channel, status) in enumerate(rows):
            await conn.execute(
                text(
                    "INSERT INTO reminder_deliveries (id, user_id, event_id, occurrence_key,"
                    " minutes_before, channel, occurrence_start, due_at, status, attempts, error)"
                    " SELECT :id, c.owner_id, :event, :key, 10, :channel,"
                    " '2031-05-06T07:00:00Z', timestamptz '2031-05-06T06:50:00Z'"
                    " + make_interval(days => :n), :status, 1, :error FROM calendars c"
                    " JOIN calendar_events e ON e.calendar_id = c.id WHERE e.id = :event"
                ),
                {
                    "id": uuid.uuid4(),
                    "event": event["id"],
                    "key": f"k{n}",
                    "channel": channel,
                    "status": status,
                    "n": n,
                    "error": "WebhookFailed: HTTP 503" if status == "failed" else None,
                },
            )
    await engine.dispose()
    listed = (await alice.get("/api/v1/reminders/webhook/deliveries")).json()
    assert [(d["status"], d["summary"]) for d in listed] == [("failed", "Standup"), ("sent", "Standup")]
    assert listed[0]["error"] == "WebhookFailed: HTTP 503"
    assert (await bob.get("/api/v1/reminders/webhook/deliveries")).json() == []
