"""Webhook signatures follow Standard Webhooks: ``webhook-signature`` is ``v1,`` and the base64 HMAC-SHA256,
keyed with the base64-decoded secret, of ``"{webhook-id}.{webhook-timestamp}.{body}"``; a receiver using the
``standardwebhooks`` library accepts them and refuses a stale timestamp (a replay)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from aiwfe.calendar.reminders import webhook

BODY = b'{"delivery_id":"d-1","summary":"Standup"}'
MSG_ID = "5b0c6f5e-0f4e-4c1e-9d4a-0d7e1f8a1b2c"


def _by_the_spec(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def test_new_secrets_are_32_random_bytes_in_the_standard_form() -> None:
    first, second = webhook.new_secret(), webhook.new_secret()
    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"), validate=True)) == 32
    assert first != second


def test_the_signature_is_the_hmac_of_id_timestamp_and_body() -> None:
    secret = webhook.new_secret()
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert webhook.sign(secret, MSG_ID, at, BODY) == _by_the_spec(secret, MSG_ID, int(at.timestamp()), BODY)


def _headers(secret: str, at: datetime, body: bytes = BODY) -> dict[str, str]:
    return {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": webhook.sign(secret, MSG_ID, at, body),
    }


def test_a_receiver_accepts_a_fresh_message_and_refuses_a_replay_or_a_change() -> None:
    secret = webhook.new_secret()
    now = datetime.now(UTC)
    assert webhook.verify(secret, BODY, _headers(secret, now))
    assert not webhook.verify(secret, BODY, _headers(secret, now - timedelta(minutes=10)))  # replayed later
    assert not webhook.verify(secret, BODY + b" ", _headers(secret, now))  # body changed
    assert not webhook.verify(webhook.new_secret(), BODY, _headers(secret, now))  # someone else's secret
