"""Reminder webhooks, signed the Standard Webhooks way (https://www.standardwebhooks.com): ``webhook-id``,
``webhook-timestamp`` and ``webhook-signature`` = ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, so a
receiver can check who sent it and refuse replays. Sent through the guarded outbound client
(aiwfe.core.outbound) with a timeout, retries with backoff and a circuit breaker per receiver.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError

from aiwfe.core import outbound, resilience
from aiwfe.core.settings import Settings

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
# Deprecated (see docs/reminders.md): the old signature, kept for receivers not yet moved over.
LEGACY_SIGNATURE_HEADER = "X-Aiwfe-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_URL_LENGTH = outbound.MAX_URL_LENGTH

WebhookUrlError = outbound.Refused  # a URL we will not call (never retried)


class WebhookFailed(Exception):
    """The receiver could not be reached or answered 5xx/429: worth trying again later."""


class WebhookRejected(Exception):
    """The receiver answered but refused (4xx): the receiver is up, so the circuit stays closed."""


def new_secret() -> str:
    """``whsec_`` and 32 random bytes in base64, the form Standard Webhooks libraries take."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, msg_id: str, timestamp: datetime, body: bytes) -> str:
    """The ``webhook-signature`` value for one send."""
    return StandardWebhook(secret).sign(msg_id, timestamp, body)


def verify(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    """What a receiver does (with the ``standardwebhooks`` library): check signature and timestamp."""
    try:
        StandardWebhook(secret).verify(body, headers)
    except WebhookVerificationError:
        return False
    return True


def legacy_sign(secret: str, body: bytes) -> str:
    """The deprecated ``X-Aiwfe-Signature``: ``sha256=<hex HMAC-SHA256 of the body>`` (no replay guard)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def check_url(url: str, settings: Settings) -> None:
    """A URL we will call: http(s), no credentials, a host on permitted addresses. Raises
    :class:`WebhookUrlError`."""
    await outbound.Guard.from_settings(settings).check_url(url)


def _is_failure(exc: BaseException) -> bool:
    return isinstance(exc, WebhookFailed)


def policy(settings: Settings) -> resilience.Policy:
    return resilience.Policy(
        attempts=settings.reminders_webhook_attempts,
        backoff=settings.reminders_webhook_backoff_seconds,
        threshold=settings.reminders_webhook_breaker_threshold,
        reset=settings.reminders_webhook_breaker_reset_seconds,
        is_failure=_is_failure,
    )


# One set of circuits per worker process; a receiver's refusal (4xx) does not count.
_breakers: dict[tuple[int, int], resilience.Breakers] = {}


def breakers(settings: Settings) -> resilience.Breakers:
    key = (settings.reminders_webhook_breaker_threshold, settings.reminders_webhook_breaker_reset_seconds)
    if key not in _breakers:
        _breakers[key] = resilience.async_breakers(policy(settings))
    return _breakers[key]


async def post(
    settings: Settings,
    url: str,
    secret: str,
    body: bytes,
    msg_id: str,
    transport: httpx.AsyncBaseTransport | None = None,
) -> int:
    """POST ``body`` signed with ``secret``; returns the 2xx status.

    Raises :class:`WebhookUrlError` (never retried), :class:`WebhookRejected` (4xx), :class:`WebhookFailed`
    (unreachable, 5xx or 429 after every try) or :class:`resilience.CircuitOpen`. A resend after a crash
    carries the same body and ``webhook-id`` (also sent as ``Idempotency-Key``), so the receiver can drop
    it; each try is signed with its own timestamp.
    """
    host, port = outbound.check_syntax(url)
    limits = outbound.Limits(
        timeout=settings.reminders_webhook_timeout_seconds,
        total=settings.reminders_webhook_timeout_seconds * 2,
        max_bytes=64 * 1024,  # the answer is not used; a receiver cannot make us hold more
    )
    guard = outbound.Guard.from_settings(settings)

    async with outbound.client(
        guard, limits, user_agent="aiwfe-reminders", follow_redirects=False, transport=transport
    ) as client:

        async def once() -> int:
            now = datetime.now(UTC)
            headers = {
                "Content-Type": "application/json",
                ID_HEADER: msg_id,
                TIMESTAMP_HEADER: str(int(now.timestamp())),
                SIGNATURE_HEADER: sign(secret, msg_id, now, body),
                LEGACY_SIGNATURE_HEADER: legacy_sign(secret, body),
                IDEMPOTENCY_HEADER: msg_id,
            }
            try:
                response = await client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                raise WebhookFailed(f"{type(exc).__name__}: {exc}") from exc
            if response.status_code >= 500 or response.status_code == 429:
                raise WebhookFailed(f"the receiver answered HTTP {response.status_code}")
            if response.status_code >= 300:
                raise WebhookRejected(f"the receiver answered HTTP {response.status_code}")
            return response.status_code

        return await resilience.call(breakers(settings), f"webhook:{host}:{port}", policy(settings), once)
