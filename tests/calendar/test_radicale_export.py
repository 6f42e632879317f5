"""Our ICS export is accepted by a real Radicale: each exported series (with its VTIMEZONE) is PUT into a
collection, read back, and Radicale's own time-range REPORT with expansion finds the same occurrences."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import httpx
from icalendar import Calendar as ICalendar
from tests.calendar.conftest import Caller

from aiwfe_stack.servers.radicale import Radicale

PASSWORD = "export-secret"
REPORT = """<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><C:calendar-data>
    <C:expand start="20260301T000000Z" end="20260401T000000Z"/>
  </C:calendar-data></D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
    <C:time-range start="20260301T000000Z" end="20260401T000000Z"/>
  </C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>
"""


def _split(exported: bytes) -> dict[str, bytes]:
    """One VCALENDAR per UID (a CalDAV resource holds one series), each with the time zones."""
    calendar = ICalendar.from_ical(exported)
    zones = [c for c in calendar.subcomponents if c.name == "VTIMEZONE"]
    resources: dict[str, ICalendar] = {}
    for component in calendar.subcomponents:
        if component.name != "VEVENT":
            continue
        uid = str(component["UID"])
        if uid not in resources:
            resource = ICalendar()
            resource.add("PRODID", str(calendar["PRODID"]))
            resource.add("VERSION", "2.0")
            for zone in zones:
                resource.add_component(zone)
            resources[uid] = resource
        resources[uid].add_component(component)
    return {uid: bytes(resource.to_ical()) for uid, resource in resources.items()}


async def _seed(alice: Caller) -> dict[str, Any]:
    calendar = await alice.calendar(name="Export", time_zone="Europe/Berlin")
    berlin = "Europe/Berlin"
    await alice.event(
        calendar["id"],
        uid="weekly@test",
        summary="Weekly (across the DST change)",
        start={"date_time": "2026-03-16T09:00:00", "time_zone": berlin},
        end={"date_time": "2026-03-16T10:00:00", "time_zone": berlin},
        rrule="FREQ=WEEKLY;COUNT=4",
        exdates=["2026-03-23T08:00:00Z"],
    )
    series = (await alice.occurrences("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z"))[-1]
    moved = await alice.patch(
        f"/api/v1/events/{series['event_id']}",
        params={"scope": "occurrence", "recurrence_id": series["recurrence_id"]},
        json={
            "summary": "Weekly (moved)",
            "start": {"date_time": "2026-03-31T11:00:00", "time_zone": berlin},
        },
    )
    assert moved.status_code == 200, moved.text
    await alice.event(calendar["id"], uid="allday@test", summary="Away", start={"date": "2026-03-20"})
    await alice.event(
        calendar["id"],
        uid="ny@test",
        summary="Call with New York",
        start={"date_time": "2026-03-10T15:00:00", "time_zone": "America/New_York"},
        end={"date_time": "2026-03-10T16:00:00", "time_zone": "America/New_York"},
    )
    return calendar


async def _upload(alice: Caller, radicale: Radicale) -> tuple[dict[str, Any], str, str, dict[str, bytes]]:
    """Seed a calendar, export it and PUT every series into a new Radicale collection."""
    calendar = await _seed(alice)
    exported = await alice.get(f"/api/v1/calendars/{calendar['id']}/export")
    assert exported.status_code == 200
    user = f"x{uuid.uuid4().hex[:10]}"
    url = radicale.create_calendar(user, PASSWORD, "export")
    resources = _split(exported.content)
    assert sorted(resources) == ["allday@test", "ny@test", "weekly@test"]
    async with httpx.AsyncClient(auth=(user, PASSWORD)) as http:
        for uid, body in resources.items():
            put = await http.put(
                f"{url}{uuid.uuid5(uuid.NAMESPACE_URL, uid).hex}.ics",
                content=body,
                headers={"Content-Type": "text/calendar; charset=utf-8"},
            )
            assert put.status_code == 201, f"{uid}: {put.status_code} {put.text}"
    return calendar, user, url, resources


def _events(calendar: ICalendar) -> list[tuple[str, str, str, str]]:
    return [
        (
            str(e["UID"]),
            _instant(e.decoded("RECURRENCE-ID")) if "RECURRENCE-ID" in e else "",
            str(e["SUMMARY"]),
            _instant(e.decoded("DTSTART")),
        )
        for e in calendar.walk("VEVENT")
    ]


async def test_radicale_accepts_our_export_and_gives_it_back_unchanged(
    alice: Caller, radicale: Radicale
) -> None:
    _, user, url, resources = await _upload(alice, radicale)
    async with httpx.AsyncClient(auth=(user, PASSWORD)) as http:
        for uid, body in resources.items():
            read = await http.get(f"{url}{uuid.uuid5(uuid.NAMESPACE_URL, uid).hex}.ics")
            assert read.status_code == 200
            assert _events(ICalendar.from_ical(read.content)) == _events(ICalendar.from_ical(body))


async def test_radicales_expansion_of_our_export_matches_ours(alice: Caller, radicale: Radicale) -> None:
    calendar, user, url, _ = await _upload(alice, radicale)

    async with httpx.AsyncClient(auth=(user, PASSWORD)) as http:
        report = await http.request(
            "REPORT",
            url,
            content=REPORT,
            headers={"Depth": "1", "Content-Type": "application/xml; charset=utf-8"},
        )
    assert report.status_code == 207, report.text
    theirs: list[tuple[str, str]] = []
    for chunk in report.text.split("BEGIN:VCALENDAR")[1:]:
        text = "BEGIN:VCALENDAR" + chunk.split("END:VCALENDAR")[0].replace("&#13;", "") + "END:VCALENDAR"
        for event in ICalendar.from_ical(text.encode()).walk("VEVENT"):
            theirs.append((str(event["SUMMARY"]), _instant(event.decoded("DTSTART"))))
    ours = await alice.occurrences("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z", calendar=calendar["id"])
    mine = [(o["summary"], _instant(o["start"].get("date_time") or o["start"]["date"])) for o in ours]
    assert sorted(theirs) == sorted(mine)
    assert sorted(mine) == [
        ("Away", "2026-03-20"),
        ("Call with New York", "2026-03-10T19:00:00+00:00"),
        ("Weekly (across the DST change)", "2026-03-16T08:00:00+00:00"),
        ("Weekly (moved)", "2026-03-31T09:00:00+00:00"),
    ]


def _instant(value: object) -> str:
    """A start as a UTC instant (timed) or a date (all-day), from Radicale's value or our JSON."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    assert isinstance(value, date)
    return value.isoformat()
