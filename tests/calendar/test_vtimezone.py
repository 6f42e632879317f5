"""Our VTIMEZONEs (yearly RRULEs derived from zoneinfo) read back by icalendar give zoneinfo's offsets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Calendar, Timezone

from aiwfe.calendar.vtimezone import vtimezone

ZONES = [
    "Europe/Berlin",
    "America/New_York",  # rules changed in 2007
    "Australia/Lord_Howe",  # 30-minute DST, southern hemisphere, rules changed in 2008
    "America/Sao_Paulo",  # DST abolished in 2019
    "Asia/Tokyo",  # no DST
    "UTC",
]


def _read_back(tzid: str, first_year: int) -> Timezone:
    text = vtimezone(tzid, first_year).to_ical()
    parsed = Calendar.from_ical(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n" + text + b"END:VCALENDAR\r\n")
    (component,) = parsed.walk("VTIMEZONE")
    return component


@pytest.mark.parametrize("tzid", ZONES)
@settings(max_examples=60, deadline=None)
@given(seconds=st.integers(min_value=0, max_value=int(timedelta(days=365 * 40).total_seconds())))
def test_offsets_match_zoneinfo_at_any_instant(tzid: str, seconds: int) -> None:
    instant = datetime(2001, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    ours = _read_back(tzid, 2000).to_tz()
    assert instant.astimezone(ours).utcoffset() == instant.astimezone(ZoneInfo(tzid)).utcoffset()


@pytest.mark.parametrize("tzid", ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe"])
def test_offsets_match_on_both_sides_of_every_change(tzid: str) -> None:
    ours = _read_back(tzid, 2004).to_tz()
    zone = ZoneInfo(tzid)
    instant = datetime(2005, 1, 1, tzinfo=UTC)
    previous = instant.astimezone(zone).utcoffset()
    changes = 0
    while instant < datetime(2045, 1, 1, tzinfo=UTC):  # beyond the scanned years: rules repeat
        instant += timedelta(hours=1)
        offset = instant.astimezone(zone).utcoffset()
        if offset != previous:
            changes += 1
            for probe in (instant - timedelta(hours=1), instant):
                assert probe.astimezone(ours).utcoffset() == probe.astimezone(zone).utcoffset(), probe
        previous = offset
    assert changes >= 70


def test_regular_rules_are_written_as_yearly_rrules_not_date_lists() -> None:
    text = vtimezone("Europe/Berlin", 2020).to_ical().decode()
    assert "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3" in text
    assert "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10" in text
    assert "RDATE" not in text


def test_a_rule_that_changed_ends_with_until() -> None:
    text = vtimezone("America/New_York", 2005).to_ical().decode()
    assert "RRULE:FREQ=YEARLY;UNTIL=20060402T070000Z;BYDAY=1SU;BYMONTH=4" in text
    assert "RRULE:FREQ=YEARLY;BYDAY=2SU;BYMONTH=3" in text
