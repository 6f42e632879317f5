"""Worker tasks that deliver notifications, retried with exponential backoff."""

from __future__ import annotations

import smtplib

from celery import shared_task

from aiwfe.core.logging import get_logger
from aiwfe.core.resilience import CircuitOpen
from aiwfe.core.settings import get_settings
from aiwfe.notify import email

log = get_logger(__name__)
SEND_EMAIL = "aiwfe.notify.send_email"


@shared_task(
    name=SEND_EMAIL,
    autoretry_for=(smtplib.SMTPException, OSError, CircuitOpen),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=10,
)
def send_email(to: str, subject: str, body: str, kind: str) -> None:
    """Send one email. ``kind`` (e.g. ``verify_email``) is logged; the address and body are not."""
    settings = get_settings()
    email.send(settings, email.build(settings, to, subject, body))
    log.info("email_sent", kind=kind)
