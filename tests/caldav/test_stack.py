"""A phone-style session through the real stack (Caddy, TLS, two API replicas), as docs/caldav.md
describes it: the host alone → discovery → list → sync → edit → sync."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import unquote

import httpx
import pytest
from tests.auth.conftest import PASSWORD, link_token, wait_for_mail
from tests.stacks import running_stack

import caldav
from aiwfe_stack.servers.smtp_sink import SmtpSink
from aiwfe_stack.stack import Stack

pytestmark = pytest.mark.stack

EVENT = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//phone//EN
BEGIN:VEVENT
UID:review@phone
DTSTAMP:20260101T000000Z
DTSTART;TZID=Europe/Berlin:20260303T100000
DTEND;TZID=Europe/Berlin:20260303T110000
RRULE:FREQ=WEEKLY;COUNT=4
SUMMARY:Review
END:VEVENT
END:VCALENDAR
"""


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack("aiwfe-test-caldav-") as running:
        yield running


def test_a_phone_session_through_caddy_discovers_lists_syncs_and_edits(stack: Stack) -> None:
    origin = f"https://localhost:{stack.settings.https_port}"
    ca = str(stack.paths.ca_cert)
    with httpx.Client(base_url=origin, verify=ca, timeout=30) as rest:
        email = "phone@example.com"
        assert (
            rest.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD}).status_code == 201
        )
        # App passwords need a verified address: open the mailed link, as the phone's owner would.
        mail = wait_for_mail(SmtpSink(stack.paths.mail, 0), email, "Confirm your email address")
        verified = rest.post("/api/v1/auth/verify-email", json={"token": link_token(mail)})
        assert verified.status_code == 200, verified.text
        login = rest.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD, "mode": "token"})
        rest.headers["Authorization"] = f"Bearer {login.json()['session_token']}"
        made = rest.post("/api/v1/calendars", json={"name": "Team", "time_zone": "Europe/Berlin"}).json()
        app_password = rest.post("/api/v1/me/tokens", json={"name": "phone", "scopes": ["caldav"]}).json()[
            "token"
        ]

        # The host alone: the client follows /.well-known/caldav through Caddy to the principal.
        client = caldav.DAVClient(
            url=f"{origin}/.well-known/caldav", username=email, password=app_password, ssl_verify_cert=ca
        )
        [calendar] = client.principal().calendars()
        assert calendar.get_display_name() == "Team"
        assert str(calendar.url).startswith(f"{origin}/dav/calendars/")

        first = calendar.objects_by_sync_token(load_objects=False)
        assert list(first) == []
        assert not str(first.sync_token).startswith("fake-")
        calendar.save_event(EVENT)
        second = calendar.objects_by_sync_token(sync_token=first.sync_token, load_objects=True)
        assert [unquote(str(o.url)).rsplit("/", 1)[1] for o in second] == ["review@phone.ics"]

        # Edited in the web UI, seen by the phone's next sync.
        [occurrence, *_] = rest.get(
            "/api/v1/events",
            params={"start": "2026-03-01T00:00:00Z", "end": "2026-04-01T00:00:00Z", "calendar": made["id"]},
        ).json()["items"]
        renamed = rest.patch(f"/api/v1/events/{occurrence['event_id']}", json={"summary": "Design review"})
        assert renamed.status_code == 200
        third = calendar.objects_by_sync_token(sync_token=second.sync_token, load_objects=True)
        [changed] = list(third)
        assert str(changed.icalendar_component["SUMMARY"]) == "Design review"
