"""The load test's user journey (``aiwfe validate`` runs it headless; ``locust -f bench/locustfile.py`` too).

Each simulated user registers once and signs in in token mode, creates a calendar, then browses the week
and month views, creates and edits events and now and then exports the calendar; it waits 1-5 s between
steps. Registration and sign-in are rate-limited per IP: against your own stack raise the limits
(``AIWFE_STACK_EXTRA_APP_ENV``, see docs/validation.md) or the journeys fail at sign-up.

Environment: ``AIWFE_LOAD_CA`` a CA bundle to verify the https host with (Caddy's local root CA).
"""

from __future__ import annotations

import os
import random
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from locust import HttpUser, between, task


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class CalendarUser(HttpUser):  # type: ignore[misc]
    wait_time = between(1, 5)

    def on_start(self) -> None:
        ca = os.environ.get("AIWFE_LOAD_CA")
        if ca:
            self.client.verify = ca
        self.event_ids: list[str] = []
        self.calendar_id: str | None = None
        password = secrets.token_urlsafe(18)
        email = f"load-{uuid.uuid4().hex[:16]}@loadtest.example.org"
        self.client.post(
            "/api/v1/auth/register",
            json={"email": email, "password": password, "display_name": "Load"},
            name="POST /api/v1/auth/register",
        )
        with self.client.post(
            "/api/v1/auth/login",
            json={"email": email, "password": password, "mode": "token"},
            name="POST /api/v1/auth/login",
            catch_response=True,
        ) as response:
            token = response.json().get("session_token") if response.ok else None
            if not token:
                response.failure(f"no session token (HTTP {response.status_code})")
                return
        self.client.headers["Authorization"] = f"Bearer {token}"
        with self.client.post(
            "/api/v1/calendars",
            json={"name": "Load test", "time_zone": "UTC"},
            name="POST /api/v1/calendars",
            catch_response=True,
        ) as response:
            if response.status_code == 201:
                self.calendar_id = response.json()["id"]
            else:
                response.failure(f"HTTP {response.status_code}")

    def _range(self, days: int, name: str) -> None:
        start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start -= timedelta(days=random.randint(0, 3))
        self.client.get(
            "/api/v1/events",
            params={"start": _iso(start), "end": _iso(start + timedelta(days=days))},
            name=name,
        )

    @task(4)
    def week_view(self) -> None:
        self._range(7, "GET /api/v1/events (week)")

    @task(2)
    def month_view(self) -> None:
        self._range(31, "GET /api/v1/events (month)")

    @task(2)
    def create_event(self) -> None:
        if self.calendar_id is None:
            return
        begins = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=random.randint(1, 24 * 14))
        body: dict[str, Any] = {
            "calendar_id": self.calendar_id,
            "summary": "Load test meeting",
            "start": {"date_time": _iso(begins), "time_zone": "UTC"},
            "end": {"date_time": _iso(begins + timedelta(minutes=30)), "time_zone": "UTC"},
        }
        with self.client.post(
            "/api/v1/events", json=body, name="POST /api/v1/events", catch_response=True
        ) as response:
            if response.status_code == 201:
                self.event_ids.append(response.json()["id"])
            else:
                response.failure(f"HTTP {response.status_code}")

    @task(1)
    def edit_event(self) -> None:
        if not self.event_ids:
            return
        event_id = random.choice(self.event_ids)
        self.client.patch(
            f"/api/v1/events/{event_id}",
            json={"summary": f"Edited {uuid.uuid4().hex[:6]}"},
            name="PATCH /api/v1/events/{id}",
        )

    @task(1)
    def export(self) -> None:
        if self.calendar_id is None or random.random() > 0.3:
            return
        self.client.get(
            f"/api/v1/calendars/{self.calendar_id}/export", name="GET /api/v1/calendars/{id}/export"
        )
