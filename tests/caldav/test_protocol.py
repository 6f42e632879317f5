"""What a client can get wrong, and the protocol details the ``caldav`` client does not reach: each bad
request gets its 4xx and stores nothing; ETags, read-only sources, free/busy, multiget and getctag."""

from __future__ import annotations

import httpx
import icalendar
from tests.caldav.conftest import Account, LiveServer

EVENT = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:{uid}
DTSTAMP:20260101T000000Z
DTSTART:20260310T140000Z
DTEND:20260310T150000Z
SUMMARY:{summary}
END:VEVENT
END:VCALENDAR
"""
PROPFIND = b"""<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>"""
MARCH = ("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z")


def dav(account: Account, method: str, url: str, body: bytes | str = b"", **headers: str) -> httpx.Response:
    return httpx.request(method, url, content=body, auth=account.auth, headers=headers, timeout=30)


def put(
    account: Account, url: str, uid: str = "one@test", summary: str = "One", **headers: str
) -> httpx.Response:
    return dav(
        account,
        "PUT",
        url,
        EVENT.format(uid=uid, summary=summary),
        **{"Content-Type": "text/calendar; charset=utf-8", **headers},
    )


def test_malformed_xml_and_entity_declarations_are_400_problems(live: LiveServer) -> None:
    alice = live.account("alice@example.com")
    url = alice.collection(alice.calendar()["id"])
    broken = dav(alice, "PROPFIND", url, b"<D:propfind xmlns:D='DAV:'><D:prop>", Depth="0")
    assert broken.status_code == 400
    assert broken.json()["status"] == 400
    assert "well-formed" in broken.json()["detail"]
    laughs = b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
    laughs += b'<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&b;</D:displayname></D:prop></D:propfind>'
    entity = dav(alice, "PROPFIND", url, laughs, Depth="0")
    assert entity.status_code == 400
    assert "document type" in entity.json()["detail"]


def test_wrong_depth_values_are_refused(live: LiveServer) -> None:
    alice = live.account("alice@example.com")
    url = alice.collection(alice.calendar()["id"])
    assert dav(alice, "PROPFIND", url, PROPFIND, Depth="2").status_code == 400
    infinite = dav(alice, "PROPFIND", url, PROPFIND, Depth="infinity")
    assert infinite.status_code == 403
    assert "propfind-finite-depth" in infinite.text


def test_a_huge_body_is_413_and_nothing_is_stored(live: LiveServer) -> None:
    alice = live.account("alice@example.com")
    made = alice.calendar()
    padding = "X-PAD:" + "x" * 70 + "\r\n"
    huge = EVENT.format(uid="big@test", summary="Big").replace("END:VEVENT", padding * 20000 + "END:VEVENT")
    answer = dav(
        alice, "PUT", alice.collection(made["id"]) + "big.ics", huge, **{"Content-Type": "text/calendar"}
    )
    assert answer.status_code == 413
    assert alice.occurrences(made["id"], *MARCH) == []


def test_invalid_calendar_data_is_refused_and_nothing_is_stored(live: LiveServer) -> None:
    alice = live.account("alice@example.com")
    made = alice.calendar()
    url = alice.collection(made["id"])
    two_uids = EVENT.format(uid="a@test", summary="A").replace(
        "END:VCALENDAR", EVENT.format(uid="b@test", summary="B").split("VERSION:2.0\n", 1)[1]
    )
    for body, condition in (
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nEND:VCALENDAR\n", "valid-calendar-data"),
        (two_uids, "valid-calendar-object-resource"),
    ):
        answer = dav(alice, "PUT", url + "x.ics", body, **{"Content-Type": "text/calendar"})
        assert answer.status_code == 403, answer.text
        assert condition in answer.text
    wrong_type = dav(alice, "PUT", url + "x.ics", EVENT, **{"Content-Type": "application/json"})
    assert wrong_type.status_code == 415
    assert alice.occurrences(made["id"], *MARCH) == []


def test_another_users_calendar_cannot_be_read_or_written(live: LiveServer) -> None:
    alice = live.account("alice@example.com")
    bob = live.account("bob@example.com")
    bobs = bob.calendar(name="Bob's")
    assert put(bob, bob.collection(bobs["id"]) + "secret.ics", "secret@bob", "Secret").status_code == 201

    under_bob = bob.collection(bobs["id"])
    assert dav(alice, "PROPFIND", under_bob, PROPFIND, Depth="1").status_code == 403
    assert put(alice, under_bob + "evil.ics", "evil@alice").status_code == 403
    under_alice = alice.collection(bobs["id"])
    assert dav(alice, "PROPFIND", under_alice, PROPFIND, Depth="1").status_code == 404
    assert put(alice, under_alice + "evil.ics", "evil@alice").status_code == 404
    assert dav(alice, "DELETE", under_alice + "secret.ics").status_code == 404

    mine = alice.collection(alice.calendar()["id"])
    multiget = f"""<?xml version="1.0"?>
<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
<D:prop><D:getetag/><C:calendar-data/></D:prop>
<D:href>{under_bob}secret.ics</D:href><D:href>{under_alice}secret.ics</D:href><D:href>/elsewhere/x.ics</D:href>
</C:calendar-multiget>"""
    answer = dav(alice, "REPORT", mine, multiget, Depth="1")
    assert answer.status_code == 207
    assert answer.text.count("HTTP/1.1 404 Not Found") == 3
    assert "Secret" not in answer.text
    [bob_event] = bob.occurrences(bobs["id"], *MARCH)
    assert bob_event["summary"] == "Secret"


def test_credentials_other_than_a_caldav_app_password_are_401(live: LiveServer) -> None:
    alice = live.account("alice@example.com")
    read_only_token = live.account("carol@example.com", scopes=["read", "write"])
    url = f"{live.base}/dav/"
    for auth in (
        None,
        (alice.email, "correct horse battery staple 42"),  # the account password
        (alice.email, alice.app_password + "x"),
        ("bob@example.com", alice.app_password),  # another user name
        (read_only_token.email, read_only_token.app_password),  # no caldav scope
    ):
        answer = httpx.request("PROPFIND", url, content=PROPFIND, auth=auth, headers={"Depth": "0"})
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Basic ")
    assert dav(alice, "PROPFIND", url, PROPFIND, Depth="0").status_code == 207
    # The app password is for CalDAV only.
    rest = httpx.get(
        f"{live.base}/api/v1/calendars", headers={"Authorization": f"Bearer {alice.app_password}"}
    )
    assert rest.status_code == 403


def test_if_match_and_if_none_match_guard_writes(live: LiveServer) -> None:
    alice = live.account("alice@example.com")
    made = alice.calendar()
    url = alice.collection(made["id"]) + "one.ics"
    created = put(alice, url, summary="First", **{"If-None-Match": "*"})
    assert created.status_code == 201
    etag = created.headers["etag"]
    assert put(alice, url, summary="Again", **{"If-None-Match": "*"}).status_code == 412
    assert put(alice, url, summary="Stale", **{"If-Match": '"not-the-etag"'}).status_code == 412
    assert dav(alice, "DELETE", url, **{"If-Match": '"not-the-etag"'}).status_code == 412
    [event] = alice.occurrences(made["id"], *MARCH)
    assert event["summary"] == "First"
    updated = put(alice, url, summary="Second", **{"If-Match": etag})
    assert updated.status_code == 204
    assert updated.headers["etag"] != etag
    assert dav(alice, "GET", url).headers["etag"] == updated.headers["etag"]
    assert dav(alice, "DELETE", url, **{"If-Match": updated.headers["etag"]}).status_code == 204
    assert alice.occurrences(made["id"], *MARCH) == []


def test_calendars_from_a_read_only_source_refuse_writes(live: LiveServer) -> None:
    alice = live.account("alice@example.com")
    # A loopback feed (allowed for the test server): there is no DNS here to resolve a real one.
    feed = alice.calendar(source="ics", source_url="http://127.0.0.1:9/holidays.ics")
    answer = put(alice, alice.collection(feed["id"]) + "x.ics")
    assert answer.status_code == 403
    assert alice.occurrences(feed["id"], *MARCH) == []
    listing = dav(
        alice,
        "PROPFIND",
        alice.collection(feed["id"]),
        b'<D:propfind xmlns:D="DAV:"><D:prop><D:current-user-privilege-set/></D:prop></D:propfind>',
        Depth="0",
    )
    assert "<D:read/>" in listing.text
    assert "<D:write-content/>" not in listing.text


def test_a_stale_or_foreign_sync_token_is_a_valid_sync_token_error(live: LiveServer) -> None:
    alice = live.account("alice@example.com")
    url = alice.collection(alice.calendar()["id"])
    for token in ("urn:aiwfe:caldav:sync:00000000-0000-0000-0000-000000000000:1", "http://x/1", "urn:x"):
        body = f"""<D:sync-collection xmlns:D="DAV:"><D:sync-token>{token}</D:sync-token>
<D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"""
        answer = dav(alice, "REPORT", url, body, Depth="0")
        assert answer.status_code == 403
        assert "valid-sync-token" in answer.text


def test_free_busy_query_answers_the_busy_time_as_vfreebusy(live: LiveServer) -> None:
    alice = live.account("alice@example.com")
    url = alice.collection(alice.calendar()["id"])
    assert put(alice, url + "one.ics").status_code == 201
    body = """<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav">
<C:time-range start="20260301T000000Z" end="20260401T000000Z"/></C:free-busy-query>"""
    answer = dav(alice, "REPORT", url, body, Depth="1")
    assert answer.status_code == 200
    [busy] = icalendar.Calendar.from_ical(answer.content).walk("VFREEBUSY")
    assert busy["FREEBUSY"].to_ical() == b"20260310T140000Z/20260310T150000Z"


def test_getctag_and_sync_token_change_when_the_web_ui_edits(live: LiveServer) -> None:
    alice = live.account("alice@example.com")
    made = alice.calendar()
    url = alice.collection(made["id"])
    ask = b"""<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">
<D:prop><CS:getctag/><D:sync-token/></D:prop></D:propfind>"""
    before = dav(alice, "PROPFIND", url, ask, Depth="0").text
    response = alice.rest.patch(f"/api/v1/calendars/{made['id']}", json={"name": "Renamed"})
    assert response.status_code == 200
    after = dav(alice, "PROPFIND", url, ask, Depth="0").text
    assert before != after
    assert f"<CS:getctag>{response.json()['version']}</CS:getctag>" in after


def test_sign_ins_are_audited_and_failures_rate_limited(live: LiveServer) -> None:
    alice = live.account("alice@example.com")
    no_scope = live.account("carol@example.com", scopes=["read"])
    url = f"{live.base}/dav/"
    assert dav(alice, "PROPFIND", url, PROPFIND, Depth="0").status_code == 207
    assert dav(alice, "PROPFIND", url, PROPFIND, Depth="0").status_code == 207
    assert dav(no_scope, "PROPFIND", url, PROPFIND, Depth="0").status_code == 401

    alices = [e for e in alice.rest.get("/api/v1/me/audit").json() if e["event"] == "caldav_sign_in"]
    assert [e["outcome"] for e in alices] == ["ok"]  # once per token and hour, not per request
    carols = [e for e in no_scope.rest.get("/api/v1/me/audit").json() if e["event"] == "caldav_sign_in"]
    assert [(e["outcome"], e["details"]["reason"]) for e in carols] == [("failed", "scope")]

    statuses = [
        httpx.request("PROPFIND", url, auth=(alice.email, "wrong"), headers={"Depth": "0"}).status_code
        for _ in range(31)  # AIWFE_LOGIN_RATE_PER_IP is 30/minute; one failure above already counted
    ]
    assert statuses[:29] == [401] * 29
    assert statuses[-1] == 429


def test_time_range_query_finds_a_count_series_that_started_long_before(live: LiveServer) -> None:
    alice = live.account("alice@example.com")
    url = alice.collection(alice.calendar()["id"])
    old = EVENT.format(uid="weekly@test", summary="Weekly").replace(
        "DTSTART:20260310T140000Z\nDTEND:20260310T150000Z",
        "DTSTART:20240102T140000Z\nDTEND:20240102T150000Z\nRRULE:FREQ=WEEKLY;COUNT=200",
    )
    assert dav(alice, "PUT", url + "weekly.ics", old, **{"Content-Type": "text/calendar"}).status_code == 201
    assert put(alice, url + "later.ics", "later@test", "Later").status_code == 201
    query = """<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
<D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
<C:time-range start="{start}" end="{end}"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"""
    march = dav(
        alice, "REPORT", url, query.format(start="20260301T000000Z", end="20260308T000000Z"), Depth="1"
    )
    assert march.status_code == 207
    assert "/weekly.ics</D:href>" in march.text
    assert "/later.ics</D:href>" not in march.text
    after_the_end = dav(alice, "REPORT", url, query.format(start="20280101T000000Z", end="20280201T000000Z"))
    assert "/weekly.ics</D:href>" not in after_the_end.text
    # Open-ended, as DAVx⁵ asks: longer than any month view, so the series is scanned on its own.
    open_ended = query.replace(' end="{end}"', "")
    from_march = dav(alice, "REPORT", url, open_ended.format(start="20260301T000000Z"), Depth="1")
    assert "/weekly.ics</D:href>" in from_march.text
    assert "/later.ics</D:href>" in from_march.text
    from_2028 = dav(alice, "REPORT", url, open_ended.format(start="20280101T000000Z"), Depth="1")
    assert "/weekly.ics</D:href>" not in from_2028.text


def test_a_rule_beyond_the_recurrence_budget_is_refused_and_nothing_is_stored(live: LiveServer) -> None:
    alice = live.account("alice@example.com")
    made = alice.calendar()
    # 50,000 leap days: dateutil walks every day of ~200,000 years to find them.
    runaway = EVENT.format(uid="leap@test", summary="Leap").replace(
        "SUMMARY:", "RRULE:FREQ=DAILY;COUNT=50000;BYMONTH=2;BYMONTHDAY=29\nSUMMARY:"
    )
    answer = dav(
        alice, "PUT", alice.collection(made["id"]) + "leap.ics", runaway, **{"Content-Type": "text/calendar"}
    )
    assert answer.status_code == 403, answer.text
    assert "valid-calendar-data" in answer.text
    assert alice.occurrences(made["id"], "2028-01-01T00:00:00Z", "2029-01-01T00:00:00Z") == []


def test_a_put_over_the_event_cap_is_507_quota_and_nothing_is_stored(capped_live: LiveServer) -> None:
    alice = capped_live.account("alice@example.com")
    made = alice.calendar()
    url = alice.collection(made["id"])
    assert put(alice, url + "one.ics", "one@test", "One").status_code == 201
    assert put(alice, url + "two.ics", "two@test", "Two").status_code == 201
    over = put(alice, url + "three.ics", "three@test", "Three")
    assert over.status_code == 507, over.text
    assert "quota-not-exceeded" in over.text
    assert sorted(item["summary"] for item in alice.occurrences(made["id"], *MARCH)) == ["One", "Two"]
