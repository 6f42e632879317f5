"""A small local stand-in for Google Calendar's ``events.list`` (the one stub the tests may use: Google
cannot run here), following the documented behaviour the sync relies on:

- ``GET /calendar/v3/calendars/{calendarId}/events`` with ``Authorization: Bearer <token>`` (else 401);
- without ``syncToken``: every event not cancelled, paged by ``maxResults`` / ``pageToken``, the last page
  carrying ``nextSyncToken``;
- with ``syncToken``: only what changed since, cancelled events included (as Google sends them: id,
  status, and for a cancelled occurrence ``recurringEventId`` and ``originalStartTime``);
- an expired or unknown ``syncToken`` answers 410 Gone, reason ``fullSyncRequired``.

https://developers.google.com/calendar/api/v3/reference/events/list and
https://developers.google.com/calendar/api/guides/sync
"""

from __future__ import annotations

import copy
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

PREFIX = "/calendar/v3/calendars/"


@dataclass
class _Stored:
    event: dict[str, Any]
    seq: int


@dataclass
class GoogleStub:
    access_token: str = "google-access-token"
    page_size: int = 250
    calendars: dict[str, dict[str, _Stored]] = field(default_factory=dict)
    requests: list[dict[str, str]] = field(default_factory=list)
    _seq: int = 0
    _oldest_valid: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ---- what tests change -------------------------------------------------------------------

    def put(self, calendar_id: str, **event: Any) -> dict[str, Any]:
        """Add or replace an event (fields as in Google's Event resource); returns it."""
        with self._lock:
            self._seq += 1
            event.setdefault("id", uuid.uuid4().hex)
            event.setdefault("status", "confirmed")
            event.setdefault("iCalUID", f"{event['id']}@google.com")
            self.calendars.setdefault(calendar_id, {})[event["id"]] = _Stored(copy.deepcopy(event), self._seq)
            return event

    def cancel(self, calendar_id: str, event_id: str) -> None:
        """Delete an event (or one occurrence's exception): it turns into a cancelled tombstone."""
        with self._lock:
            self._seq += 1
            stored = self.calendars[calendar_id][event_id]
            tombstone = {"id": event_id, "status": "cancelled"}
            for key in ("recurringEventId", "originalStartTime"):
                if key in stored.event:
                    tombstone[key] = stored.event[key]
            stored.event, stored.seq = tombstone, self._seq

    def expire_tokens(self) -> None:
        """Every sync token handed out so far is now answered with 410 Gone."""
        with self._lock:
            self._seq += 1
            self._oldest_valid = self._seq

    # ---- the API -----------------------------------------------------------------------------

    def list_events(self, calendar_id: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            if calendar_id not in self.calendars:
                return 404, _error(404, "notFound", "Not Found")
            since: int | None = None
            if "syncToken" in params:
                since = _number(params["syncToken"], "sync-")
                if since is None or since < self._oldest_valid or since > self._seq:
                    return 410, _error(
                        410, "fullSyncRequired", "Sync token is no longer valid, a full sync is required."
                    )
            snapshot, offset = self._seq, 0
            if "pageToken" in params:
                parts = params["pageToken"].split("-")
                if len(parts) != 3 or parts[0] != "page":
                    return 400, _error(400, "invalid", "Invalid page token")
                offset, snapshot = int(parts[1]), int(parts[2])
            size = min(int(params.get("maxResults", 250)), 2500, self.page_size)
            stored = sorted(self.calendars[calendar_id].values(), key=lambda s: (s.seq, s.event["id"]))
            if since is None:
                show_deleted = params.get("showDeleted") == "true"
                chosen = [s for s in stored if show_deleted or s.event["status"] != "cancelled"]
            else:
                chosen = [s for s in stored if s.seq > since]
            chosen = [s for s in chosen if s.seq <= snapshot]
            page = chosen[offset : offset + size]
            body: dict[str, Any] = {
                "kind": "calendar#events",
                "items": [copy.deepcopy(s.event) for s in page],
            }
            if offset + size < len(chosen):
                body["nextPageToken"] = f"page-{offset + size}-{snapshot}"
            else:
                body["nextSyncToken"] = f"sync-{snapshot}"
            return 200, body

    def serve(self) -> StubServer:
        return StubServer(self)


def _number(token: str, prefix: str) -> int | None:
    if not token.startswith(prefix) or not token[len(prefix) :].isdigit():
        return None
    return int(token[len(prefix) :])


def _error(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "errors": [{"domain": "calendar", "reason": reason}]}}


class StubServer:
    """The stub behind a real HTTP server on loopback."""

    def __init__(self, stub: GoogleStub) -> None:
        self.stub = stub

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                stub.requests.append({"path": parts.path, **params})
                if self.headers.get("Authorization") != f"Bearer {stub.access_token}":
                    self._send(401, _error(401, "authError", "Invalid Credentials"))
                    return
                if not (parts.path.startswith(PREFIX) and parts.path.endswith("/events")):
                    self._send(404, _error(404, "notFound", "Not Found"))
                    return
                calendar_id = unquote(parts.path[len(PREFIX) : -len("/events")])
                self._send(*stub.list_events(calendar_id, params))

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/calendar/v3"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
