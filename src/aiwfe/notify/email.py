"""Build and send email over SMTP with a timeout, behind a circuit breaker."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid

from aiwfe.core import resilience
from aiwfe.core.settings import Settings

# One circuit per process: after 5 consecutive SMTP failures, fail fast for 60 s instead of holding
# worker slots on a dead server; Celery's retry with backoff re-sends later (so one try here).
SMTP_POLICY = resilience.Policy(
    attempts=1,
    backoff=0,
    threshold=5,
    reset=60,
    is_failure=lambda exc: isinstance(exc, smtplib.SMTPException | OSError),
)
SMTP_BREAKERS = resilience.sync_breakers(SMTP_POLICY)


def build(settings: Settings, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="aiwfe")
    message.set_content(body)
    return message


def send(settings: Settings, message: EmailMessage) -> None:
    """Deliver one message; raises on any SMTP or network error, or :class:`resilience.CircuitOpen` (the
    task retries)."""
    resilience.call_sync(SMTP_BREAKERS, "smtp", SMTP_POLICY, lambda: _send(settings, message))


def _send(settings: Settings, message: EmailMessage) -> None:
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds) as smtp:
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_username and settings.smtp_password:
            smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
        smtp.send_message(message)
