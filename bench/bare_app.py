"""The floor of a Python ASGI stack: a raw ASGI app that answers every GET with a small JSON list.

``bench/api.py`` and ``bench/calendar`` run it in its own uvicorn process (``uvicorn bare_app:app --app-dir
bench``) and measure it with ``wrk``, so the API's figures can be read against it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]

BODY = json.dumps([{"id": n, "name": f"item {n}"} for n in range(1, 4)]).encode()
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(
    scope: Message, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
) -> None:
    if scope["type"] != "http":
        return  # lifespan: nothing to set up
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
