"""The process-wide Celery app (``celery -A aiwfe.worker.celery_app``), with signals and heartbeat wired."""

from __future__ import annotations

from aiwfe.core.settings import get_settings
from aiwfe.worker import signals
from aiwfe.worker.app import create_celery
from aiwfe.worker.heartbeat import WorkerHeartbeat

settings = get_settings()
app = create_celery(settings)
app.steps["worker"].add(WorkerHeartbeat)
signals.connect(app, settings)
