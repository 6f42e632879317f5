"""Tasks orphaned by a worker that died mid-task (SIGKILL, OOM, a node lost), handed back to the queue now.

With ``acks_late`` a running task's message stays in the Redis broker's ``unacked`` hash until the task ends,
so a killed worker loses nothing — but kombu hands such a message back only after the broker's
``visibility_timeout`` (an hour, longer than any task may run, so a slow task is never run twice). This
brings that down to seconds for tasks whose worker is known to be gone:

- a worker that starts restores the tasks its own name had started before it booted (supervisord, compose
  and Kubernetes restart a worker under the same name, and two live workers never share one);
- every worker restores the tasks of a worker whose heartbeat stopped ``stale_after`` seconds ago.

Only tasks recorded as STARTED (``task_track_started``) are touched: that record names the worker running
them. A message reserved but not started yet still waits for the visibility timeout.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis
from celery import Celery

from aiwfe.core.heartbeat import heartbeat_key
from aiwfe.core.logging import get_logger

log = get_logger(__name__)


def _worker_gone(client: redis.Redis, hostname: str, stale_after: float) -> bool:
    beat = client.get(heartbeat_key("worker", hostname))
    return beat is None or time.time() - float(beat) > stale_after


def restore_orphans(
    app: Celery,
    client: redis.Redis,
    *,
    stale_after: float,
    own_hostname: str | None = None,
    booted_at: float = 0.0,
) -> list[str]:
    """Put orphaned started tasks back on their queue; returns their task ids."""
    restored: list[str] = []
    with app.connection_for_write() as connection:
        channel: Any = connection.default_channel
        broker = channel.client
        delivered = dict(broker.zrange(channel.unacked_index_key, 0, -1, withscores=True))
        for tag, payload in broker.hgetall(channel.unacked_key).items():
            message = json.loads(payload)[0]
            task_id = (message.get("headers") or {}).get("id")
            if not task_id:
                continue
            meta = app.backend.get_task_meta(task_id)
            if meta.get("status") != "STARTED" or not isinstance(meta.get("result"), dict):
                continue
            hostname = str(meta["result"].get("hostname", ""))
            mine = hostname == own_hostname and delivered.get(tag, booted_at) < booted_at
            if mine or (hostname != own_hostname and _worker_gone(client, hostname, stale_after)):
                channel.qos.restore_by_tag(tag)  # to the head of its queue
                restored.append(task_id)
                log.warning("orphaned_task_restored", task_id=task_id, dead_worker=hostname)
    return restored
