"""A phone-style session with the ``caldav`` client against the real app: discovery, create, edit one
occurrence, delete, sync-collection with a token, and server-side expansion. Dates are fixed (2026)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import unquote

import httpx
import icalendar
from tests.caldav.conftest import LiveServer

WEEKLY = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//phone//EN
BEGIN:VEVENT
UID:standup@phone
DTSTAMP:20260101T000000Z
DTSTART;TZID=Europe/Berlin:20260302T090000
DTEND;TZID=Europe/Berlin:20260302T091500
RRULE:FREQ=WEEKLY;BYDAY=MO
SUMMARY:Standup
END:VEVENT
END:VCALENDAR
"""
SINGLE = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//phone//EN
BEGIN:VEVENT
UID:dentist@phone
DTSTAMP:20260101T000000Z
DTSTART:20260310T140000Z
DTEND:20260310T150000Z
SUMMARY:Dentist
END:VEVENT
END:VCALENDAR
"""


def test_discovery_finds_the_principal_home_and_calendars_from_the_host_alone(live: LiveServer) -> None:
    alice = live.account("alice@example.com")
    made = alice.calendar(name="Home", color="#ff8800")
    well_known = httpx.request("PROPFIND", f"{live.base}/.well-known/caldav", auth=alice.auth)
    assert well_known.status_code == 301
    assert well_known.headers["location"] == "/dav/"

    principal = alice.client().principal()
    assert str(principal.url).endswith(f"/dav/principals/{alice.user_id}/")
    calendars = principal.calendars()
    assert [c.get_display_name() for c in calendars] == ["Home"]
    assert str(calendars[0].url).endswith(f"/dav/calendars/{alice.user_id}/{made['id']}/")


def test_an_event_created_over_caldav_appears_in_the_rest_api_and_back(live: LiveServer) -> None:
    alice = live.account("alice@example.com")
    made = alice.calendar(time_zone="Europe/Berlin")
    calendar = alice.client().calendar(url=alice.collection(made["id"]))
    calendar.save_event(WEEKLY)

    march = alice.occurrences(made["id"], "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z")
    assert [o["start"]["date_time"] for o in march] == [
        "2026-03-02T09:00:00+01:00",
        "2026-03-09T09:00:00+01:00",
        "2026-03-16T09:00:00+01:00",
        "2026-03-23T09:00:00+01:00",
        "2026-03-30T09:00:00+02:00",
    ]
    assert {o["summary"] for o in march} == {"Standup"}

    rest = alice.rest.post(
        "/api/v1/events",
        json={
            "calendar_id": made["id"],
            "uid": "lunch@web",
            "summary": "Lunch",
            "start": {"date_time": "2026-03-05T12:00:00", "time_zone": "Europe/Berlin"},
            "end": {"date_time": "2026-03-05T13:00:00", "time_zone": "Europe/Berlin"},
        },
    )
    assert rest.status_code == 201, rest.text
    found = calendar.event_by_url(alice.collection(made["id"]) + "lunch@web.ics")
    found.load()
    assert str(found.icalendar_component["SUMMARY"]) == "Lunch"
    assert found.icalendar_component.decoded("DTSTART") == datetime(2026, 3, 5, 11, 0, tzinfo=UTC).astimezone(
        found.icalendar_component.decoded("DTSTART").tzinfo
    )


def test_editing_one_occurrence_and_deleting_another_round_trip_through_rest(live: LiveServer) -> None:
    alice = live.account("alice@example.com")
    made = alice.calendar(time_zone="Europe/Berlin")
    calendar = alice.client().calendar(url=alice.collection(made["id"]))
    event = calendar.save_event(WEEKLY)

    # As a phone does it: the override and an EXDATE written into the same resource.
    event.load()
    ics = icalendar.Calendar.from_ical(event.data)
    master = next(c for c in ics.walk("VEVENT"))
    master.add("EXDATE", datetime(2026, 3, 16, 8, 0, tzinfo=UTC))
    moved = icalendar.Event()
    moved.add("UID", "standup@phone")
    moved.add("DTSTAMP", datetime(2026, 1, 2, tzinfo=UTC))
    moved.add("RECURRENCE-ID", datetime(2026, 3, 9, 8, 0, tzinfo=UTC))
    moved.add("DTSTART", datetime(2026, 3, 9, 10, 0, tzinfo=UTC))
    moved.add("DTEND", datetime(2026, 3, 9, 10, 30, tzinfo=UTC))
    moved.add("SUMMARY", "Standup (moved)")
    ics.add_component(moved)
    event.data = ics.to_ical().decode()
    event.save()

    march = alice.occurrences(made["id"], "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z")
    starts = {_utc(o["start"]["date_time"]): o["summary"] for o in march}
    assert starts == {
        datetime(2026, 3, 2, 8, 0, tzinfo=UTC): "Standup",
        datetime(2026, 3, 9, 10, 0, tzinfo=UTC): "Standup (moved)",
        datetime(2026, 3, 23, 8, 0, tzinfo=UTC): "Standup",
        datetime(2026, 3, 30, 7, 0, tzinfo=UTC): "Standup",
    }

    # And the other way: the web UI cancels one more occurrence; the phone sees the EXDATE.
    series = next(o for o in march if o["summary"] == "Standup")["event_id"]
    cancelled = alice.rest.delete(
        f"/api/v1/events/{series}", params={"scope": "occurrence", "recurrence_id": "2026-03-23T08:00:00Z"}
    )
    assert cancelled.status_code == 204, cancelled.text
    event.load()
    reread = icalendar.Calendar.from_ical(event.data)
    master = next(c for c in reread.walk("VEVENT") if "RECURRENCE-ID" not in c)
    exdates = {d.dt.astimezone(UTC) for prop in _list(master.get("EXDATE")) for d in prop.dts}
    assert exdates == {datetime(2026, 3, 16, 8, 0, tzinfo=UTC), datetime(2026, 3, 23, 8, 0, tzinfo=UTC)}
    overrides = [c for c in reread.walk("VEVENT") if "RECURRENCE-ID" in c]
    assert [str(c["SUMMARY"]) for c in overrides] == ["Standup (moved)"]


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _list(value: object) -> list[icalendar.prop.vDDDLists]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]  # type: ignore[list-item]


def test_sync_collection_reports_changes_and_deletions_after_a_token(live: LiveServer) -> None:
    alice = live.account("alice@example.com")
    made = alice.calendar(time_zone="Europe/Berlin")
    calendar = alice.client().calendar(url=alice.collection(made["id"]))
    calendar.save_event(WEEKLY)
    dentist = calendar.save_event(SINGLE)

    first = calendar.objects_by_sync_token(load_objects=False)
    assert sorted(unquote(str(o.url).rsplit("/", 1)[1]) for o in first) == [
        "dentist@phone.ics",
        "standup@phone.ics",
    ]
    token = first.sync_token

    unchanged = calendar.objects_by_sync_token(sync_token=token, load_objects=False)
    assert list(unchanged) == []

    dentist.delete()
    rest = alice.rest.post(
        "/api/v1/events",
        json={
            "calendar_id": made["id"],
            "uid": "gym@web",
            "summary": "Gym",
            "start": {"date_time": "2026-03-04T18:00:00Z"},
            "end": {"date_time": "2026-03-04T19:00:00Z"},
        },
    )
    assert rest.status_code == 201
    body = f"""<?xml version="1.0" encoding="utf-8"?>
<D:sync-collection xmlns:D="DAV:"><D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>
<D:prop><D:getetag/></D:prop></D:sync-collection>"""
    answer = httpx.request(
        "REPORT", alice.collection(made["id"]), content=body, auth=alice.auth, headers={"Depth": "0"}
    )
    assert answer.status_code == 207, answer.text
    assert answer.text.count("<D:response>") == 2
    assert "dentist@phone.ics</D:href><D:status>HTTP/1.1 404 Not Found" in answer.text
    assert "gym@web.ics" in answer.text
    assert "standup@phone.ics" not in answer.text


def test_expanded_calendar_query_returns_each_occurrence_in_utc(live: LiveServer) -> None:
    alice = live.account("alice@example.com")
    made = alice.calendar(time_zone="Europe/Berlin")
    calendar = alice.client().calendar(url=alice.collection(made["id"]))
    calendar.save_event(WEEKLY)
    calendar.save_event(SINGLE)

    found = calendar.search(
        start=datetime(2026, 3, 20, tzinfo=UTC), end=datetime(2026, 4, 1, tzinfo=UTC), event=True, expand=True
    )
    starts = sorted(
        (str(e.icalendar_component["UID"]), e.icalendar_component.decoded("DTSTART").astimezone(UTC))
        for e in found
    )
    assert starts == [
        ("standup@phone", datetime(2026, 3, 23, 8, 0, tzinfo=UTC)),
        ("standup@phone", datetime(2026, 3, 30, 7, 0, tzinfo=UTC)),
    ]


def test_proppatch_and_mkcalendar_set_the_name_and_colour_the_rest_api_shows(live: LiveServer) -> None:
    alice = live.account("alice@example.com")
    principal = alice.client().principal()
    made = principal.make_calendar(name="Trips")
    made.set_properties([caldav_color("#00AA11FF")])
    made.set_properties([caldav_name("Travel")])
    listed = alice.rest.get("/api/v1/calendars").json()
    assert [(c["name"], c["color"]) for c in listed] == [("Travel", "#00aa11")]


def caldav_color(value: str) -> object:
    from caldav.elements.base import ValuedBaseElement

    class CalendarColor(ValuedBaseElement):
        tag = "{http://apple.com/ns/ical/}calendar-color"

    return CalendarColor(value)


def caldav_name(value: str) -> object:
    from caldav.elements import dav

    return dav.DisplayName(value)
