"""The load test's user journey (``aiwfe validate`` and ``bench/capacity.py`` run it; ``locust -f`` too).

Setup, not measured: before any user starts, one account per user is registered (argon2 hashing at
sign-up is a one-off cost per person, not part of a working session). Then each simulated user signs in
once (token mode), creates a calendar, and repeatedly browses the week and month views, creates and edits
events, lists jobs, and now and then imports or exports an .ics; it waits 1-5 s between steps.
Registration and sign-in are rate-limited per IP: against your own stack raise the limits
(``AIWFE_STACK_EXTRA_APP_ENV``, see docs/validation.md).

Environment: ``AIWFE_LOAD_CA`` a CA bundle to verify the https host with (Caddy's local root CA);
``AIWFE_LOAD_SETUP_THREADS`` parallel registrations in the setup phase (default 4);
``AIWFE_LOAD_STEADY=1`` resets the statistics once every user has signed in (``bench/capacity.py``: the
figures then describe the steady journey at that many users, not the sign-in burst of the ramp).
"""

from __future__ import annotations

import logging
import os
import queue
import random
import secrets
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import gevent.ssl
import httpx
from locust import FastHttpUser, between, events, task
from locust.exception import StopUser

ACCOUNTS: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
STARTED = {"users": 0}
SIGN_IN_FAILURES: list[str] = []
log = logging.getLogger("aiwfe.load")
logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per setup registration is noise
ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//aiwfe//load//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
    "DTSTAMP:20260101T000000Z\r\nDTSTART:{start}\r\nDTEND:{end}\r\nSUMMARY:Imported\r\nEND:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _register(host: str, verify: Any) -> tuple[str, str] | None:
    email = f"load-{uuid.uuid4().hex[:16]}@loadtest.example.org"
    password = secrets.token_urlsafe(18)
    try:
        with httpx.Client(base_url=host, verify=verify, timeout=60) as client:
            response = client.post(
                "/api/v1/auth/register", json={"email": email, "password": password, "display_name": "Load"}
            )
    except httpx.HTTPError:
        return None
    return (email, password) if response.status_code == 201 else None


@events.init.add_listener
def register_accounts(environment: Any, **_: Any) -> None:
    """The setup phase: one account per user, registered before the run (and its clock) starts, unmeasured."""
    options = environment.parsed_options
    count = int(getattr(options, "num_users", 0) or 0) if options else 0
    if not environment.host or count <= 0 or not getattr(options, "headless", False):
        return
    verify: Any = os.environ.get("AIWFE_LOAD_CA") or True
    threads = int(os.environ.get("AIWFE_LOAD_SETUP_THREADS", "4"))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for account in pool.map(lambda _: _register(environment.host, verify), range(count)):
            if account:
                ACCOUNTS.put(account)


def _user_started(environment: Any) -> None:
    """Count users past sign-in; with AIWFE_LOAD_STEADY=1 reset the statistics when the last one is."""
    STARTED["users"] += 1
    options = environment.parsed_options
    target = int(getattr(options, "num_users", 0) or 0) if options else 0
    if os.environ.get("AIWFE_LOAD_STEADY") == "1" and STARTED["users"] == target and environment.runner:
        environment.runner.stats.reset_all()
        # A user who could not sign in is not being served: keep those failures in the figures.
        for reason in SIGN_IN_FAILURES:
            environment.events.request.fire(
                request_type="POST",
                name="POST /api/v1/auth/login (failed during the ramp)",
                response_time=0,
                response_length=0,
                exception=RuntimeError(reason),
                context={},
            )


def _ssl_context_factory() -> Any:
    """Verify the https host with AIWFE_LOAD_CA when given (Caddy's local CA), else the system's CAs."""
    ca = os.environ.get("AIWFE_LOAD_CA")
    if not ca:
        return None

    def factory(cafile: str | None = None) -> Any:
        # geventhttpclient passes its own bundle (certifi) as cafile, which would replace ours: trust both.
        context = gevent.ssl.create_default_context(cafile=ca)
        if cafile:
            context.load_verify_locations(cafile=cafile)
        return context

    return factory


# FastHttpUser (geventhttpclient): Locust's requests-based HttpUser spends a core of its own at these rates.
class CalendarUser(FastHttpUser):  # type: ignore[misc]
    wait_time = between(1, 5)
    insecure = False
    # staticmethod: a plain function here would be bound to the user and get it as its first argument.
    ssl_context_factory = staticmethod(_ssl_context_factory())
    network_timeout = 60.0
    connection_timeout = 60.0

    def on_start(self) -> None:
        try:
            signed_in = self._sign_in()
        finally:
            _user_started(self.environment)
        if not signed_in:
            raise StopUser()  # without a session every later step would only add 401s

    def _sign_in(self) -> bool:
        self.headers: dict[str, str] = {}
        self.event_ids: list[str] = []
        self.calendar_id: str | None = None
        try:
            email, password = ACCOUNTS.get_nowait()
        except queue.Empty:  # more users than the setup phase registered: sign up now (measured)
            email = f"load-{uuid.uuid4().hex[:16]}@loadtest.example.org"
            password = secrets.token_urlsafe(18)
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
                reason = f"no session token (HTTP {response.status_code}: {response.text[:200]})"
                log.warning("sign-in failed: %s", reason)
                SIGN_IN_FAILURES.append(reason)
                response.failure(reason)
                return False
        self.headers = {"Authorization": f"Bearer {token}"}
        with self.client.post(
            "/api/v1/calendars",
            json={"name": "Load test", "time_zone": "UTC"},
            name="POST /api/v1/calendars",
            headers=self.headers,
            catch_response=True,
        ) as response:
            if response.status_code == 201:
                self.calendar_id = response.json()["id"]
            else:
                response.failure(f"HTTP {response.status_code}")
        return True

    def _range(self, days: int, name: str) -> None:
        start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start -= timedelta(days=random.randint(0, 3))
        query = urlencode({"start": _iso(start), "end": _iso(start + timedelta(days=days))})
        self.client.get(f"/api/v1/events?{query}", name=name, headers=self.headers)

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
            "/api/v1/events", json=body, name="POST /api/v1/events", headers=self.headers, catch_response=True
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
            headers=self.headers,
        )

    @task(1)
    def list_jobs(self) -> None:
        # GET /api/v1/jobs is being added; until it exists a 404 is the expected answer, not an error.
        with self.client.get(
            "/api/v1/jobs", name="GET /api/v1/jobs", headers=self.headers, catch_response=True
        ) as response:
            if response.status_code in (200, 404):
                response.success()
            else:
                response.failure(f"HTTP {response.status_code}")

    @task(1)
    def import_or_export(self) -> None:
        if self.calendar_id is None or random.random() > 0.3:
            return
        if random.random() < 0.5:
            self.client.get(
                f"/api/v1/calendars/{self.calendar_id}/export",
                name="GET /api/v1/calendars/{id}/export",
                headers=self.headers,
            )
            return
        begins = datetime.now(UTC).replace(microsecond=0) + timedelta(days=random.randint(1, 30))
        ics = ICS.format(
            uid=f"{uuid.uuid4()}@load",
            start=begins.strftime("%Y%m%dT%H%M%SZ"),
            end=(begins + timedelta(hours=1)).strftime("%Y%m%dT%H%M%SZ"),
        )
        with self.client.post(
            f"/api/v1/calendars/{self.calendar_id}/import",
            data=ics.encode(),
            headers={**self.headers, "Content-Type": "text/calendar"},
            name="POST /api/v1/calendars/{id}/import",
            catch_response=True,
        ) as response:
            if response.status_code in (200, 202):
                response.success()
            else:
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
