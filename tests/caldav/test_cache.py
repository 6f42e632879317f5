"""The cheap paths of the CalDAV server stay correct: a device's app password is answered from Redis after
its first sign-in, yet a revocation or a deactivation refuses the very next request; a cached REPORT is
answered from the calendar's version, yet a write is seen by the very next one, and no one else's."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from redis.asyncio import Redis
from tests.auth.conftest import PASSWORD, make_admin
from tests.caldav.conftest import Account, LiveServer
from tests.caldav.test_protocol import MARCH, PROPFIND, dav, put

from aiwfe.caldav.auth import CACHE_KEY
from aiwfe.core.crypto import token_hash

REPORT = """<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/><C:calendar-data><C:expand start="20260301T000000Z" end="20260401T000000Z"/>
  </C:calendar-data></D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
    <C:time-range start="20260301T000000Z" end="20260401T000000Z"/>
  </C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>"""


def _cached_sign_in(live: LiveServer, account: Account) -> bool:
    async def read() -> bool:
        redis = Redis.from_url(live.settings.redis_url.get_secret_value())
        try:
            return bool(await redis.exists(CACHE_KEY + token_hash(account.app_password)))
        finally:
            await redis.aclose()

    return asyncio.run(read())


def _signed_in_twice(live: LiveServer, account: Account) -> None:
    """Two requests: the first signs in through the database and keeps the sign-in, the second uses it."""
    url = f"{live.base}/dav/"
    assert dav(account, "PROPFIND", url, PROPFIND, Depth="0").status_code == 207
    assert _cached_sign_in(live, account), "a successful sign-in is kept in Redis"
    assert dav(account, "PROPFIND", url, PROPFIND, Depth="0").status_code == 207


def test_a_revoked_app_password_is_refused_by_the_next_request(live: LiveServer) -> None:
    alice = live.account("alice@example.com")
    _signed_in_twice(live, alice)
    [token] = alice.rest.get("/api/v1/me/tokens").json()
    assert alice.rest.delete(f"/api/v1/me/tokens/{token['id']}").status_code == 204
    assert dav(alice, "PROPFIND", f"{live.base}/dav/", PROPFIND, Depth="0").status_code == 401


def test_a_deactivated_account_is_refused_by_the_next_request(live: LiveServer) -> None:
    alice = live.account("alice@example.com")
    _signed_in_twice(live, alice)
    admin = live.account("admin@example.com")
    asyncio.run(make_admin(live.settings, admin.email))
    login = httpx.post(
        f"{live.base}/api/v1/auth/login",
        json={"email": admin.email, "password": PASSWORD, "mode": "token"},
        timeout=30,
    )
    assert login.status_code == 200, login.text
    deactivated = httpx.patch(
        f"{live.base}/api/v1/admin/users/{alice.user_id}",
        json={"is_active": False},
        headers={"Authorization": f"Bearer {login.json()['session_token']}"},
        timeout=30,
    )
    assert deactivated.status_code == 200, deactivated.text
    assert dav(alice, "PROPFIND", f"{live.base}/dav/", PROPFIND, Depth="0").status_code == 401


def test_a_kept_sign_in_still_needs_the_tokens_own_user_name(live: LiveServer) -> None:
    alice = live.account("alice@example.com")
    _signed_in_twice(live, alice)
    answer = httpx.request(
        "PROPFIND",
        f"{live.base}/dav/",
        content=PROPFIND,
        auth=("bob@example.com", alice.app_password),
        headers={"Depth": "0"},
    )
    assert answer.status_code == 401


def _report(account: Account, calendar_id: str) -> str:
    answer = dav(account, "REPORT", account.collection(calendar_id), REPORT, Depth="1")
    assert answer.status_code == 207, answer.text
    return answer.text


@pytest.mark.parametrize("writer", ["caldav", "rest"])
def test_a_write_is_seen_by_the_next_expanded_report(live: LiveServer, writer: str) -> None:
    alice = live.account("alice@example.com")
    made = alice.calendar()
    url = alice.collection(made["id"])
    assert put(alice, url + "one.ics", "one@test", "First").status_code == 201
    assert put(alice, url + "two.ics", "two@test", "Untouched").status_code == 201
    before = _report(alice, made["id"])
    assert before == _report(alice, made["id"]), "the same answer again (from the cache)"
    assert "SUMMARY:First" in before

    if writer == "caldav":
        assert put(alice, url + "one.ics", "one@test", "Second").status_code == 204
    else:
        [first] = [o for o in alice.occurrences(made["id"], *MARCH) if o["summary"] == "First"]
        patched = alice.rest.patch(f"/api/v1/events/{first['event_id']}", json={"summary": "Second"})
        assert patched.status_code == 200, patched.text

    after = _report(alice, made["id"])
    assert "SUMMARY:Second" in after
    assert "SUMMARY:First" not in after
    assert "SUMMARY:Untouched" in after  # the resource written again beside one reused


def test_cached_reports_are_each_users_own(live: LiveServer) -> None:
    alice = live.account("alice@example.com")
    bob = live.account("bob@example.com")
    alices, bobs = alice.calendar(), bob.calendar()
    assert put(alice, alice.collection(alices["id"]) + "a.ics", "a@test", "Alice's").status_code == 201
    assert put(bob, bob.collection(bobs["id"]) + "b.ics", "b@test", "Bob's").status_code == 201

    assert "Alice's" in _report(alice, alices["id"])
    # The same body on another user's collection: never the cached answer of the first.
    theirs = dav(bob, "REPORT", alice.collection(alices["id"]), REPORT, Depth="1")
    assert theirs.status_code == 403
    assert "Alice's" not in theirs.text
    under_bob = dav(bob, "REPORT", bob.collection(alices["id"]), REPORT, Depth="1")
    assert under_bob.status_code == 404
    own = _report(bob, bobs["id"])
    assert "Bob's" in own
    assert "Alice's" not in own
