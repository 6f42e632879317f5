"""The admission middleware (see ``aiwfe.core.admission``): a request waits for a slot before any of its work,
for at most ``api_admission_wait_seconds``, and is then answered 503 (overloaded) with ``Retry-After``."""

from __future__ import annotations

import asyncio
import json
import re
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from aiwfe.core.admission import HELD, Gate
from aiwfe.core.errors import PROBLEM_BASE, PROBLEM_CONTENT_TYPE
from aiwfe.core.logging import get_logger, redact_path
from aiwfe.core.metrics import ADMISSION_QUEUED, ADMISSION_SHED, ADMISSION_WAIT

log = get_logger(__name__)
RETRY_AFTER_SECONDS = 2
# Long-lived streams (a job's live progress) hold their slot for minutes and use no pooled connection
# between events: they are not admitted through the gate.
EXEMPT = re.compile(r"^/(health|ready|metrics)$|^/api/v1/jobs/[^/]+/events$")


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
        held = HELD.set(self.gate)
        try:
            await self.app(scope, receive, send)
        finally:
            HELD.reset(held)
            slots.release()
