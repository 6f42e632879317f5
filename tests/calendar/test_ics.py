"""Reading and writing .ics: what an import keeps, what it refuses, and round trips (hypothesis)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import icalendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiwfe.calendar.draft import EventDraft
from aiwfe.calendar.ics import IcsError, _prescan, parse, render
from aiwfe.calendar.models import EventStatus, Transparency
from aiwfe.calendar.recurrence import instant_key

SAMPLE = (Path(__file__).parent / "sample.ics").read_bytes()


def _wrap(*lines: str) -> bytes:
    body = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:test", *lines, "END:VCALENDAR"]
    return ("\r\n".join(body) + "\r\n").encode()


def _event(*lines: str, uid: str = "e1") -> list[str]:
    return ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20240101T000000Z", *lines, "END:VEVENT"]


def test_import_keeps_uid_tzid_recurrence_exdates_and_overrides() -> None:
    parsed = parse(SAMPLE, default_tz="UTC", max_events=100)
    by_key = {(d.uid, d.recurrence_id): d for d in parsed.events}
    standup = by_key[("standup@example.com", None)]
    assert standup.tzid == "Europe/Berlin"  # a Windows zone name, mapped
    assert standup.dtstart == datetime(2024, 3, 4, 9, 0)
    assert standup.rrule == "FREQ=WEEKLY;UNTIL=20240501T000000Z;BYDAY=MO"
    assert standup.exdates == ("2024-03-18T08:00:00Z",)
    moved = by_key[("standup@example.com", "2024-04-01T07:00:00Z")]
    assert (moved.dtstart, moved.summary) == (datetime(2024, 4, 1, 11, 0), "Standup (moved)")
    holiday = by_key[("holiday@example.com", None)]
    assert holiday.all_day
    assert holiday.rrule == "FREQ=YEARLY"
    assert holiday.transparency is Transparency.TRANSPARENT
    floating = by_key[("floating@example.com", None)]
    assert floating.tzid == "UTC"  # floating times are read in the calendar's zone
    assert parsed.name == "Team"
    assert parsed.skipped == 1  # the VTODO


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"hello", "no BEGIN:VCALENDAR"),
        (b"BEGIN:VEVENT\r\nEND:VEVENT\r\n", "expected BEGIN:VCALENDAR"),
        (_wrap(*["BEGIN:X"] * 6, *["END:X"] * 6), "nested deeper"),
        (_wrap("BEGIN:VEVENT"), "missing END"),
        (b"BEGIN:VCALENDAR\r\nSUMMARY:\xff\xfe\r\nEND:VCALENDAR\r\n", "not UTF-8"),
        (_wrap(*_event("DTSTART;TZID=Mars/Olympus:20240101T090000")), "unknown time zone 'Mars/Olympus'"),
        (_wrap(*_event("DTSTART:20240101T090000Z", "RRULE:FREQ=SECONDLY")), "event 'e1': RRULE:"),
        (
            _wrap(*_event("DTSTART:20240101T090000Z", "RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30")),
            "never produces",
        ),
        (
            _wrap(*_event("DTSTART:20240101T090000Z", "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30")),
            "no occurrence was found in 10000 steps",
        ),
        (_wrap(*_event("DTSTART:20240101T090000Z", "DTEND:20231231T090000Z")), "DTEND: is before the start"),
        (_wrap(*_event("SUMMARY:no start")), "DTSTART: is missing"),
        (_wrap(*_event("DTSTART:20240101T090000Z"), *_event("DTSTART:20240102T090000Z")), "appears twice"),
        (_wrap(*_event("DTSTART:20240101T090000Z", "SUMMARY:" + "x" * 600)), "SUMMARY: is longer than 500"),
    ],
)
def test_malformed_or_hostile_files_are_refused_with_a_reason(data: bytes, fragment: str) -> None:
    with pytest.raises(IcsError) as caught:
        parse(data, default_tz="UTC", max_events=100)
    assert fragment in str(caught.value)


def test_too_many_events_are_refused_before_parsing() -> None:
    events = [line for n in range(11) for line in _event("DTSTART:20240101T090000Z", uid=f"u{n}")]
    with pytest.raises(IcsError, match="more than 10 events"):
        parse(_wrap(*events), default_tz="UTC", max_events=10)


def test_export_reparses_with_icalendar_and_carries_its_time_zones() -> None:
    parsed = parse(SAMPLE, default_tz="UTC", max_events=100)
    out = render("Team", "Europe/Berlin", parsed.events, datetime(2024, 1, 1, tzinfo=UTC))
    calendar = icalendar.Calendar.from_ical(out)
    assert [tz["TZID"] for tz in calendar.walk("VTIMEZONE")] == ["Europe/Berlin"]
    assert len(calendar.walk("VEVENT")) == len(parsed.events)
    again = parse(out, default_tz="UTC", max_events=100)
    assert sorted(again.events, key=repr) == sorted(parsed.events, key=repr)


# ---- round trips -----------------------------------------------------------------------------------

ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC"]
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x7f"), max_size=60
).map(str.strip)


@st.composite
def drafts(draw: st.DrawFn) -> EventDraft:
    all_day = draw(st.booleans())
    day = draw(st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)))
    if all_day:
        start = datetime(day.year, day.month, day.day)
        end = start + timedelta(days=draw(st.integers(1, 5)))
        tzid = None
    else:
        start = datetime(day.year, day.month, day.day, draw(st.integers(0, 23)), draw(st.integers(0, 59)))
        end = start + timedelta(minutes=draw(st.integers(0, 3000)))
        tzid = draw(st.sampled_from(ZONES))
    rule = draw(st.sampled_from([None, "FREQ=DAILY;COUNT=5", "FREQ=WEEKLY;INTERVAL=2", "FREQ=YEARLY"]))
    if rule and not all_day and draw(st.booleans()):
        rule = "FREQ=WEEKLY;UNTIL=" + (start + timedelta(days=70)).strftime("%Y%m%dT%H%M%SZ")
    offsets = draw(st.lists(st.integers(1, 400), max_size=3, unique=True))
    if all_day:
        exdates = tuple(sorted((start + timedelta(days=d)).date().isoformat() for d in offsets))
    else:
        exdates = tuple(sorted(instant_key((start + timedelta(days=d)).replace(tzinfo=UTC)) for d in offsets))
    return EventDraft(
        dtstart=start,
        dtend=end,
        tzid=tzid,
        uid=draw(st.from_regex(r"[A-Za-z0-9@.\-]{1,40}", fullmatch=True)),
        summary=draw(TEXT),
        description=draw(TEXT),
        location=draw(TEXT),
        rrule=rule,
        exdates=exdates if rule else (),
        status=draw(st.sampled_from(list(EventStatus))),
        transparency=draw(st.sampled_from(list(Transparency))),
        sequence=draw(st.integers(0, 1000)),
    )


@settings(max_examples=80, deadline=None)
@given(st.lists(drafts(), min_size=1, max_size=4, unique_by=lambda d: d.uid))
def test_events_survive_an_export_and_reimport_unchanged(events: list[EventDraft]) -> None:
    out = render("Round trip", "UTC", events, datetime(2024, 1, 1, tzinfo=UTC))
    again = parse(out, default_tz="UTC", max_events=100).events
    assert sorted(again, key=lambda d: d.uid) == sorted(events, key=lambda d: d.uid)


def test_an_exdate_in_the_repeated_hour_at_the_end_of_dst_survives_a_round_trip() -> None:
    # Found by the property test above: 06:00Z on 2017-11-05 is 01:00 EST, the second of two 01:00s.
    draft = EventDraft(
        dtstart=datetime(2016, 11, 16, 6, 0),
        dtend=datetime(2016, 11, 16, 6, 0),
        tzid="America/New_York",
        uid="dst-exdate",
        summary="",
        description="",
        location="",
        rrule="FREQ=DAILY;COUNT=5",
        exdates=("2017-11-05T06:00:00Z",),
        status=EventStatus.TENTATIVE,
        transparency=Transparency.OPAQUE,
        sequence=0,
    )
    out = render("DST", "UTC", [draft], datetime(2024, 1, 1, tzinfo=UTC))
    assert parse(out, default_tz="UTC", max_events=10).events == [draft]


def _folded_events(count: int) -> bytes:
    # "BEGIN:VEV" CRLF " ENT": one line once unfolded, as icalendar reads it (RFC 5545 3.1).
    event = "BEGIN:VEV\r\n ENT\r\nUID:e{n}\r\nDTSTART:20240301T090000Z\r\nEND:VEV\r\n\r\n\tENT\r\n"
    body = "".join(event.format(n=n) for n in range(count))
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:test\r\n{body}END:VCALENDAR\r\n".encode()


def test_folded_begin_lines_count_towards_the_event_cap_before_parsing() -> None:
    assert len(parse(_folded_events(3), default_tz="UTC", max_events=3).events) == 3
    with pytest.raises(IcsError, match="more than 10 events"):
        _prescan(_folded_events(11), 10)


def test_begin_lines_with_parameters_or_in_lower_case_count_towards_the_event_cap() -> None:
    events = [*_event("DTSTART:20240301T090000Z", uid="a"), *_event("DTSTART:20240301T090000Z", uid="b")]
    events[0], events[-1] = "begin;x-a=1:vevent", "end;x-a=1:vevent"
    with pytest.raises(IcsError, match="more than 1 events"):
        _prescan(_wrap(*events), 1)


def test_events_the_pre_scan_cannot_see_are_counted_again_after_parsing() -> None:
    # A quoted parameter value may hold a colon; the pre-scan does not read parameters that far.
    events = [*_event("DTSTART:20240301T090000Z", uid="a"), *_event("DTSTART:20240301T090000Z", uid="b")]
    events[0], events[4] = 'BEGIN;X-A="1:2":VEVENT', 'END;X-A="1:2":VEVENT'
    _prescan(_wrap(*events), 1)  # sees one event
    with pytest.raises(IcsError, match="more than 1 events"):
        parse(_wrap(*events), default_tz="UTC", max_events=1)


def test_the_rules_of_a_file_share_one_budget() -> None:
    rule = "RRULE:FREQ=DAILY;COUNT=1;BYMONTH=2;BYMONTHDAY=29"  # about 3000 steps to check
    sparse = [line for n in range(3) for line in _event("DTSTART:20240301T090000Z", rule, uid=f"e{n}")]
    assert len(parse(_wrap(*sparse), default_tz="UTC", max_events=10, total_budget=20_000).events) == 3
    with pytest.raises(
        IcsError, match=r"'e1'.*the file's recurrence rules together would take more than 5000"
    ):
        parse(_wrap(*sparse), default_tz="UTC", max_events=10, total_budget=5000)
