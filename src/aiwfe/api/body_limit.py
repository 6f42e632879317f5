"""Request-body limits as pure ASGI: a declared Content-Length over the limit is refused before the app
runs, and a body without one (chunked) is counted as it is read. Both answer 413 as a problem."""

from __future__ import annotations

import re

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aiwfe.core.errors import problem

# ICS uploads are files, bigger than any JSON body; they have their own limit.
UPLOAD_PATHS = re.compile(r"^/api/v1/calendars/[^/]+/import$")


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int, upload_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_bytes = upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.upload_bytes if UPLOAD_PATHS.match(scope["path"]) else self.max_bytes
        detail = f"the request body is larger than {limit} bytes"
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > limit:
                    await problem(413, "payload-too-large", "Payload too large", detail)(scope, receive, send)
                    return
                break
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised inside the app: its error handlers answer with the problem body.
                    raise HTTPException(413, detail)
            return message

        await self.app(scope, counted, send)
