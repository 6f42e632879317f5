"""Reminder webhooks: URL checks (http/https only, no private targets unless allowed), HMAC-SHA256 body
signatures, and the POST itself with a timeout, retries with backoff and a circuit breaker per host.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

import httpx
import pybreaker
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from aiwfe.core.netguard import is_local_name, is_public_address
from aiwfe.core.settings import Settings

SIGNATURE_HEADER = "X-Aiwfe-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_URL_LENGTH = 2000


class WebhookUrlError(ValueError):
    """A URL we will not call: wrong scheme, no host, or a private address while those are refused."""


class WebhookFailed(Exception):
    """The receiver could not be reached or answered 5xx/429: worth trying again later."""


class WebhookRejected(Exception):
    """The receiver answered but refused (4xx): the receiver is up, so the circuit stays closed."""


def sign(secret: str, body: bytes) -> str:
    """The ``X-Aiwfe-Signature`` value: ``sha256=<hex HMAC-SHA256 of the exact body bytes>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does: recompute the signature and compare in constant time."""
    return hmac.compare_digest(sign(secret, body), header)


def check_syntax(url: str) -> tuple[str, int]:
    """Scheme and host of ``url`` are acceptable; returns (host, port)."""
    if len(url) > MAX_URL_LENGTH:
        raise WebhookUrlError(f"must be at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookUrlError("is not a URL") from None
    if parts.scheme not in ("http", "https"):
        raise WebhookUrlError("must be an http:// or https:// URL")
    if not parts.hostname:
        raise WebhookUrlError("has no host")
    if parts.username or parts.password:
        raise WebhookUrlError("must not carry credentials; the signature authenticates us")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def check_addresses(host: str, addresses: Iterable[str], settings: Settings) -> None:
    """Refuse a host that resolves to any loopback/private/link-local/reserved address (SSRF),
    unless ``AIWFE_REMINDERS_WEBHOOK_ALLOW_PRIVATE_HOSTS`` allows it."""
    if settings.reminders_webhook_allow_private_hosts:
        return
    if is_local_name(host):
        raise WebhookUrlError(f"host {host!r} is a private or loopback address, which is not allowed")
    found = list(addresses)
    if not found:
        raise WebhookUrlError(f"host {host!r} does not resolve")
    if not all(is_public_address(address) for address in found):
        raise WebhookUrlError(f"host {host!r} is a private or loopback address, which is not allowed")


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        return []
    return [str(info[4][0]) for info in infos]


def check_url(url: str, settings: Settings) -> None:
    """Everything :func:`check_syntax` and :func:`check_addresses` check (blocking: resolves DNS)."""
    host, port = check_syntax(url)
    if settings.reminders_webhook_allow_private_hosts:
        return
    check_addresses(host, resolve(host, port), settings)


_breakers: dict[str, pybreaker.CircuitBreaker] = {}


def breaker(target: str, settings: Settings) -> pybreaker.CircuitBreaker:
    """One circuit per receiver (``host:port``) and process; a receiver's refusal (4xx) does not count."""
    found = _breakers.get(target)
    if found is None:
        found = pybreaker.CircuitBreaker(
            fail_max=settings.reminders_webhook_breaker_threshold,
            reset_timeout=settings.reminders_webhook_breaker_reset_seconds,
            exclude=[WebhookRejected],
            name=f"webhook:{target}",
        )
        _breakers[target] = found
    return found


def post(
    settings: Settings,
    url: str,
    secret: str,
    body: bytes,
    idempotency_key: str,
    transport: httpx.BaseTransport | None = None,
) -> int:
    """POST ``body`` signed with ``secret``; returns the 2xx status.

    Raises :class:`WebhookUrlError` (never retried), :class:`WebhookRejected` (4xx),
    :class:`WebhookFailed` (unreachable, 5xx or 429 after every try) or ``pybreaker.CircuitBreakerError``.
    A resend after a crash carries the same body and ``Idempotency-Key``, so the receiver can drop it.
    """
    host, port = check_syntax(url)
    check_url(url, settings)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "aiwfe-reminders",
        SIGNATURE_HEADER: sign(secret, body),
        IDEMPOTENCY_HEADER: idempotency_key,
    }

    def once(client: httpx.Client) -> int:
        try:
            response = client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise WebhookFailed(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise WebhookFailed(f"the receiver answered HTTP {response.status_code}")
        if response.status_code >= 300:
            raise WebhookRejected(f"the receiver answered HTTP {response.status_code}")
        return response.status_code

    retrying = Retrying(
        stop=stop_after_attempt(settings.reminders_webhook_attempts),
        wait=wait_exponential(multiplier=settings.reminders_webhook_backoff_seconds, max=10),
        retry=retry_if_exception_type(WebhookFailed),
        reraise=True,
    )
    timeout = httpx.Timeout(settings.reminders_webhook_timeout_seconds)
    with httpx.Client(timeout=timeout, transport=transport, follow_redirects=False) as client:
        circuit = breaker(f"{host}:{port}", settings)
        for attempt in retrying:
            with attempt:
                status: int = circuit.call(once, client)
                return status
    raise AssertionError("unreachable: tenacity either returns or reraises")
