"""Admission: at most as many requests of this process do their work at once as its database pool has
connections; the others wait their turn (first come, first served) or, past a deadline, are turned away
with a 503 before any of their work is done.

Without it the pool is the queue: under overload a request waits there after it has begun (a sign-in after
its password hash, for the commit of its session's audit row), and after ``db_pool_timeout_seconds`` fails
half done. An admitted request uses at most one pooled connection at a time, so with the limit at the
pool's size an admitted request does not wait for a connection because of load alone.
"""

from __future__ import annotations

import asyncio
import json
import re
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from aiwfe.core.errors import PROBLEM_BASE, PROBLEM_CONTENT_TYPE
from aiwfe.core.logging import get_logger, redact_path
from aiwfe.core.metrics import ADMISSION_QUEUED, ADMISSION_SHED, ADMISSION_WAIT
from aiwfe.core.settings import Settings

log = get_logger(__name__)
RETRY_AFTER_SECONDS = 2
# Long-lived streams (a job's live progress) hold their slot for minutes and use no pooled connection
# between events: they are not admitted through the gate.
EXEMPT = re.compile(r"^/(health|ready|metrics)$|^/api/v1/jobs/[^/]+/events$")


class Gate:
    """``limit`` slots; a request that cannot get one within ``wait_seconds`` is shed."""

    def __init__(self, limit: int, wait_seconds: float) -> None:
        self.limit = limit
        self.wait_seconds = wait_seconds
        self.slots = asyncio.Semaphore(limit)

    @classmethod
    def for_settings(cls, settings: Settings) -> Gate:
        limit = settings.api_max_concurrent_requests or settings.db_pool_size + settings.db_max_overflow
        return cls(limit, settings.api_admission_wait_seconds)


def _overloaded(path: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    body = json.dumps(
        {
            "type": PROBLEM_BASE + "overloaded",
            "title": "The service is busy",
            "status": 503,
            "detail": "Too many requests are being handled; try again shortly.",
            "instance": path,
        }
    ).encode()
    headers = [
        (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
    ]
    return headers, body


class AdmissionMiddleware:
    def __init__(self, app: ASGIApp, gate: Gate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or EXEMPT.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        slots = self.gate.slots
        if slots.locked():  # no free slot: wait in line, up to the deadline
            began = time.perf_counter()
            ADMISSION_QUEUED.inc()
            try:
                async with asyncio.timeout(self.gate.wait_seconds):
                    await slots.acquire()
            except TimeoutError:
                ADMISSION_SHED.inc()
                log.warning("request_shed", path=redact_path(scope["path"]), limit=self.gate.limit)
                headers, body = _overloaded(scope["path"])
                await send({"type": "http.response.start", "status": 503, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            finally:
                ADMISSION_WAIT.observe(time.perf_counter() - began)
        else:
            await slots.acquire()
        try:
            await self.app(scope, receive, send)
        finally:
            slots.release()
