"""The Celery application and its configuration (reliable delivery first).

``task_acks_late`` + ``task_reject_on_worker_lost`` mean a task whose worker dies is redelivered,
not lost; ``worker_prefetch_multiplier=1`` keeps long tasks from starving a busy node.
Long waits are never ETA/countdown tasks: Redis' visibility timeout would redeliver them.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.schedules import crontab
from celery.signals import before_task_publish

from aiwfe.core.settings import Settings, get_settings
from aiwfe.worker.tasks import CANARY, CANARY_INTERVAL_SECONDS

TASK_MODULES = [
    "aiwfe.worker.tasks",
    "aiwfe.notify.tasks",
    "aiwfe.auth.tasks",
    "aiwfe.oauth.tasks",
    "aiwfe.calendar.tasks",
    "aiwfe.calendar.reminders.tasks",
    "aiwfe.calendar.sync.tasks",
]
DEFAULT_QUEUE = "celery"
# Task arguments whose values never reach a log: a mail's body carries one-time links (verify, reset, invite).
REDACTED_KWARGS = frozenset({"body"})


@before_task_publish.connect
def _redact_logged_kwargs(headers: dict[str, Any] | None = None, body: Any = None, **_: Any) -> None:
    """Celery logs ``kwargsrepr`` when a task is received and when it ends; write it without secrets."""
    if (
        headers is None
        or not isinstance(body, tuple | list)
        or len(body) < 2
        or not isinstance(body[1], dict)
    ):
        return
    kwargs = body[1]
    if REDACTED_KWARGS & kwargs.keys():
        headers["kwargsrepr"] = repr(
            {k: "[redacted]" if k in REDACTED_KWARGS else v for k, v in kwargs.items()}
        )


def create_celery(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    app = Celery("aiwfe", include=TASK_MODULES)
    app.conf.update(
        broker_url=settings.celery_broker_url,
        result_backend=settings.redis_url.get_secret_value(),
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            # Longer than any task may run, so a running task is never redelivered twice.
            "visibility_timeout": 3600,
            "socket_timeout": 10,
            "socket_connect_timeout": 5,
        },
        result_expires=24 * 3600,
        task_default_queue=DEFAULT_QUEUE,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        task_track_started=True,
        task_time_limit=900,
        task_soft_time_limit=840,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=1,
        worker_concurrency=settings.worker_concurrency,
        worker_max_tasks_per_child=settings.worker_max_tasks_per_child,
        worker_send_task_events=True,
        task_send_sent_event=True,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        beat_schedule={
            "purge-audit-log": {"task": "aiwfe.auth.purge_audit", "schedule": crontab(hour=3, minute=17)},
            "refresh-oauth-tokens": {
                "task": "aiwfe.oauth.refresh_tokens",
                "schedule": settings.oauth_refresh_every_seconds,
            },
            "scan-reminders": {
                "task": "aiwfe.reminders.scan",
                "schedule": settings.reminders_scan_seconds,
                # A scan that waited longer than one interval is superseded by the next one.
                "options": {"expires": settings.reminders_scan_seconds},
            },
            "sync-calendars": {
                "task": "aiwfe.calendar.sync_due",
                "schedule": settings.calendar_sync_scan_seconds,
            },
            # One row every 15 s on every runtime: the RPO a restore drill reports is measured (tasks.py).
            "write-canary": {
                "task": CANARY,
                "schedule": CANARY_INTERVAL_SECONDS,
                "options": {"expires": CANARY_INTERVAL_SECONDS},
            },
        },
        timezone="UTC",
        enable_utc=True,
    )
    app.conf.aiwfe_settings = settings
    return app
