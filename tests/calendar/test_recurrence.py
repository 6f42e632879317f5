"""Recurrence expansion: wall-clock rules across DST, exceptions, caps, hostile rules; checked against
recurring-ical-events and against a brute-force scan with hypothesis."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiwfe.calendar.recurrence import (
    Budget,
    BudgetExceeded,
    RecurrenceError,
    Series,
    build_rule,
    expand,
    instant_key,
    normalize_rrule,
    occurs,
    overlaps,
    span,
    split_rule,
    stored_span,
    walk,
)

BERLIN = ZoneInfo("Europe/Berlin")
ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC", "Asia/Kolkata"]


def _series(
    start: datetime, hours: float, tzid: str | None, rule: str | None = None, **extra: object
) -> Series:
    tz = None if tzid is None else ZoneInfo(tzid)
    canonical = normalize_rrule(rule, dtstart=start, tz=tz) if rule else None
    return Series(start, start + timedelta(hours=hours), tzid, canonical, **extra)  # type: ignore[arg-type]


def _window(a: str, b: str) -> tuple[datetime, datetime]:
    return datetime.fromisoformat(a), datetime.fromisoformat(b)


def _expand(series: Series, a: str, b: str, limit: int = 1000, zone: ZoneInfo = BERLIN) -> list[str]:
    lo, hi = _window(a, b)
    return [i.start.isoformat() for i in expand(series, lo, hi, date_zone=zone, limit=limit).instances]


def test_a_daily_berlin_event_keeps_its_wall_clock_time_across_both_dst_changes() -> None:
    series = _series(datetime(2024, 3, 29, 9), 1, "Europe/Berlin", "FREQ=DAILY")
    spring = _expand(series, "2024-03-30T00:00:00Z", "2024-04-01T00:00:00Z")
    assert spring == ["2024-03-30T09:00:00+01:00", "2024-03-31T09:00:00+02:00"]
    autumn = _expand(series, "2024-10-26T00:00:00Z", "2024-10-28T00:00:00Z")
    assert autumn == ["2024-10-26T09:00:00+02:00", "2024-10-27T09:00:00+01:00"]


def test_a_weekly_new_york_event_moves_in_utc_when_the_clocks_change() -> None:
    series = _series(datetime(2024, 3, 1, 18, 30), 1, "America/New_York", "FREQ=WEEKLY;COUNT=3")
    lo, hi = _window("2024-02-01T00:00:00Z", "2024-04-01T00:00:00Z")
    keys = [i.key for i in expand(series, lo, hi, date_zone=BERLIN, limit=10).instances]
    assert keys == [
        "2024-03-01T23:30:00Z",
        "2024-03-08T23:30:00Z",
        "2024-03-15T22:30:00Z",
    ]


def test_lord_howe_half_hour_dst_keeps_local_time() -> None:
    series = _series(datetime(2024, 4, 5, 10), 1, "Australia/Lord_Howe", "FREQ=DAILY;COUNT=4")
    assert _expand(series, "2024-04-01T00:00:00Z", "2024-04-10T00:00:00Z") == [
        "2024-04-05T10:00:00+11:00",
        "2024-04-06T10:00:00+11:00",
        "2024-04-07T10:00:00+10:30",
        "2024-04-08T10:00:00+10:30",
    ]


def test_a_time_skipped_by_dst_means_the_time_after_the_gap_and_an_ambiguous_one_the_first() -> None:
    gap = _series(datetime(2024, 3, 30, 2, 30), 1, "Europe/Berlin", "FREQ=DAILY;COUNT=3")
    assert _expand(gap, "2024-03-29T00:00:00Z", "2024-04-02T00:00:00Z")[1:] == [
        "2024-03-31T03:30:00+02:00",
        "2024-04-01T02:30:00+02:00",
    ]
    fold = _series(datetime(2024, 10, 26, 2, 30), 0.5, "Europe/Berlin", "FREQ=DAILY;COUNT=2")
    assert _expand(fold, "2024-10-25T00:00:00Z", "2024-10-29T00:00:00Z")[1] == "2024-10-27T02:30:00+02:00"


def test_exdates_remove_rdates_add_and_dtstart_always_counts() -> None:
    start = datetime(2024, 1, 3, 12)  # a Wednesday, not a Monday
    series = _series(
        start,
        1,
        "UTC",
        "FREQ=WEEKLY;BYDAY=MO;COUNT=3",
        exdates=frozenset({"2024-01-15T12:00:00Z"}),
        rdates=("2024-02-01T08:00:00Z",),
    )
    assert _expand(series, "2024-01-01T00:00:00Z", "2024-03-01T00:00:00Z") == [
        "2024-01-03T12:00:00+00:00",
        "2024-01-08T12:00:00+00:00",
        "2024-01-22T12:00:00+00:00",
        "2024-02-01T08:00:00+00:00",
    ]


def test_monthly_on_the_31st_skips_shorter_months_even_decades_later() -> None:
    series = _series(datetime(2000, 1, 31, 9), 1, "UTC", "FREQ=MONTHLY")
    dates = [s[:10] for s in _expand(series, "2030-01-01T00:00:00Z", "2030-08-01T00:00:00Z")]
    assert dates == ["2030-01-31", "2030-03-31", "2030-05-31", "2030-07-31"]


def test_all_day_events_are_read_in_the_calendars_zone() -> None:
    series = _series(datetime(2024, 5, 1), 24, None, "FREQ=DAILY;COUNT=3")
    tokyo = ZoneInfo("Asia/Tokyo")
    lo, hi = _window("2024-05-01T20:00:00Z", "2024-05-02T10:00:00Z")  # May 2 05:00-19:00 in Tokyo
    assert [i.key for i in expand(series, lo, hi, date_zone=tokyo, limit=10).instances] == ["2024-05-02"]
    assert [i.key for i in expand(series, lo, hi, date_zone=UTC, limit=10).instances] == [
        "2024-05-01",
        "2024-05-02",
    ]


def test_a_runaway_rule_is_capped_and_says_so() -> None:
    series = _series(datetime(2024, 1, 1), 0.5, "UTC", "FREQ=HOURLY")
    lo, hi = _window("2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z")
    result = expand(series, lo, hi, date_zone=UTC, limit=100)
    assert len(result.instances) == 100
    assert result.truncated


@pytest.mark.parametrize(
    ("rule", "fragment"),
    [
        ("FREQ=SECONDLY", "FREQ=SECONDLY is not supported"),
        ("FREQ=MINUTELY;INTERVAL=1", "not supported"),
        ("FREQ=DAILY;COUNT=2;UNTIL=20240101", "COUNT and UNTIL"),
        ("FREQ=DAILY;BYMONTH=13", "BYMONTH=13 is out of range"),
        ("FREQ=DAILY;BYDAY=XX", "not a valid recurrence rule"),
        ("BYDAY=MO", "FREQ is required"),
        ("FREQ=WEEKLY;FOO=1", "FOO is not a rule part"),
        ("FREQ=DAILY;COUNT=0", "COUNT must be"),
        ("FREQ=HOURLY;BYSECOND=1,2", "BYSECOND has too many values"),
        ("FREQ=DAILY;UNTIL=notadate", "UNTIL=NOTADATE"),
    ],
)
def test_invalid_rules_are_refused_naming_the_problem(rule: str, fragment: str) -> None:
    with pytest.raises(RecurrenceError) as caught:
        normalize_rrule(rule, dtstart=datetime(2024, 1, 1, 9), tz=BERLIN)
    assert caught.value.field == "rrule"
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=31",
        "FREQ=WEEKLY;BYDAY=MO;BYSETPOS=2",
        "FREQ=HOURLY;INTERVAL=7;BYHOUR=3;BYDAY=MO",
    ],
)
@pytest.mark.timeout(60)  # a runaway search would hang; how fast it is belongs to bench/, not here
def test_rules_that_never_occur_are_refused(rule: str) -> None:
    with pytest.raises(RecurrenceError, match=r"never produces an occurrence|no occurrence was found"):
        normalize_rrule(rule, dtstart=datetime(2024, 3, 1, 9), tz=BERLIN)


def test_until_is_normalised_to_utc_for_timed_series_and_to_a_date_for_all_day_ones() -> None:
    assert (
        normalize_rrule("freq=weekly;until=20240401T090000", dtstart=datetime(2024, 3, 1, 9), tz=BERLIN)
        == "FREQ=WEEKLY;UNTIL=20240401T070000Z"
    )
    assert (
        normalize_rrule("RRULE:FREQ=DAILY;UNTIL=20240401T120000Z", dtstart=datetime(2024, 3, 1), tz=None)
        == "FREQ=DAILY;UNTIL=20240401"
    )


def test_splitting_a_counted_rule_keeps_the_total_number_of_occurrences() -> None:
    series = _series(datetime(2024, 1, 1, 9), 1, "Europe/Berlin", "FREQ=DAILY;COUNT=10")
    before, after = split_rule(series, "2024-01-05T08:00:00Z")
    assert after == "FREQ=DAILY;COUNT=6"
    head = Series(series.dtstart, series.dtend, series.tzid, before)
    lo, hi = _window("2023-12-01T00:00:00Z", "2024-03-01T00:00:00Z")
    assert len(expand(head, lo, hi, date_zone=UTC, limit=100).instances) == 4
    assert occurs(series, "2024-01-05T08:00:00Z", limit=100)
    assert not occurs(series, "2024-01-05T09:00:00Z", limit=100)


# ---- properties ------------------------------------------------------------------------------------

WEEKDAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


@st.composite
def rules(draw: st.DrawFn) -> tuple[datetime, str | None, str, float]:
    """A start synchronised with its rule (RFC 5545 leaves other starts undefined), zone, rule, hours."""
    all_day = draw(st.booleans())
    day = draw(st.dates(min_value=date(2019, 1, 1), max_value=date(2027, 12, 31)))
    hour = 0 if all_day else draw(st.integers(0, 23))
    minute = 0 if all_day else draw(st.sampled_from([0, 15, 30, 45]))
    start = datetime(day.year, day.month, day.day, hour, minute)
    tzid = None if all_day else draw(st.sampled_from(ZONES))
    freq = draw(st.sampled_from(["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]))
    parts = [f"FREQ={freq}", f"INTERVAL={draw(st.integers(1, 3))}"]
    if freq == "WEEKLY" and draw(st.booleans()):
        days = draw(st.sets(st.sampled_from(WEEKDAYS), min_size=1, max_size=3))
        days.add(WEEKDAYS[start.weekday()])
        parts.append("BYDAY=" + ",".join(sorted(days, key=WEEKDAYS.index)))
    ending = draw(st.sampled_from(["count", "until", "none"]))
    if ending == "count":
        parts.append(f"COUNT={draw(st.integers(1, 40))}")
    elif ending == "until":
        until = start + timedelta(days=draw(st.integers(0, 900)))
        parts.append("UNTIL=" + (until.strftime("%Y%m%d") if all_day else until.strftime("%Y%m%dT%H%M%SZ")))
    hours = 24.0 * draw(st.integers(1, 3)) if all_day else draw(st.sampled_from([0.0, 0.5, 1.0, 26.0]))
    return start, tzid, ";".join(parts), hours


def _ics(start: datetime, tzid: str | None, rule: str, hours: float) -> bytes:
    def stamp(moment: datetime) -> str:
        if tzid is None:
            return f";VALUE=DATE:{moment:%Y%m%d}"
        return f";TZID={tzid}:{moment:%Y%m%dT%H%M%S}"

    end = start + timedelta(hours=hours)
    if tzid is not None:
        tz = ZoneInfo(tzid)
        end = (start.replace(tzinfo=tz).astimezone(UTC) + timedelta(hours=hours)).astimezone(tz)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:test",
        "BEGIN:VEVENT",
        "UID:p",
        "DTSTAMP:20240101T000000Z",
        f"DTSTART{stamp(start)}",
        f"DTEND{stamp(end.replace(tzinfo=None))}",
        f"RRULE:{rule}",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules(), st.integers(-30, 1500), st.integers(1, 120))
def test_expansion_agrees_with_recurring_ical_events(
    case: tuple[datetime, str | None, str, float], offset_days: int, window_days: int
) -> None:
    start, tzid, rule, hours = case
    tz = None if tzid is None else ZoneInfo(tzid)
    series = _series(start, hours, tzid, rule)
    window_start = datetime.combine(start.date() + timedelta(days=offset_days), datetime.min.time(), UTC)
    window_end = window_start + timedelta(days=window_days)
    ours = expand(series, window_start, window_end, date_zone=UTC, limit=5000)

    calendar = icalendar.Calendar.from_ical(_ics(start, tzid, rule, hours))
    theirs = []
    for event in recurring_ical_events.of(calendar).between(
        window_start - timedelta(days=5), window_end + timedelta(days=5)
    ):
        begin, finish = event["DTSTART"].dt, event["DTEND"].dt
        if tz is None:
            begin = datetime.combine(begin, datetime.min.time(), UTC)
            finish = datetime.combine(finish, datetime.min.time(), UTC)
        lo, hi = begin.astimezone(UTC), finish.astimezone(UTC)
        if lo < window_end and (hi > window_start or lo >= window_start):
            theirs.append(lo)
    assert [i.bounds(UTC)[0] for i in ours.instances] == sorted(theirs)


@settings(max_examples=60, deadline=None)
@given(rules(), st.integers(0, 20000), st.integers(1, 60))
def test_a_late_window_expands_the_same_as_scanning_from_the_start(
    case: tuple[datetime, str | None, str, float], offset_days: int, window_days: int
) -> None:
    start, tzid, rule, hours = case
    series = _series(start, hours, tzid, rule)
    window_start = datetime.combine(start.date() + timedelta(days=offset_days), datetime.min.time(), UTC)
    window_end = window_start + timedelta(days=window_days)
    ours = [i.key for i in expand(series, window_start, window_end, date_zone=UTC, limit=5000).instances]

    tz = series.tz
    duration = series.duration
    horizon = window_end.replace(tzinfo=None) + timedelta(days=2)
    assert series.rrule is not None
    brute = set()
    walls = [series.dtstart]
    for occurrence in build_rule(series.rrule, series.dtstart, tz):
        if occurrence.replace(tzinfo=None) > horizon:
            break
        walls.append(occurrence.replace(tzinfo=None))
    for wall in walls:
        begin = wall.replace(tzinfo=UTC) if tz is None else wall.replace(tzinfo=tz).astimezone(UTC)
        if overlaps(begin, begin + duration, window_start, window_end):
            brute.add(wall.date().isoformat() if tz is None else instant_key(begin))
    assert ours == sorted(brute)


@settings(max_examples=60, deadline=None)
@given(rules(), st.integers(-30, 3000), st.integers(1, 60))
def test_every_occurrence_lies_within_the_series_span(
    case: tuple[datetime, str | None, str, float], offset_days: int, window_days: int
) -> None:
    start, tzid, rule, hours = case
    series = _series(start, hours, tzid, rule)
    low, high = span(series)
    window_start = datetime.combine(start.date() + timedelta(days=offset_days), datetime.min.time(), UTC)
    for instance in expand(
        series, window_start, window_start + timedelta(days=window_days), date_zone=UTC, limit=5000
    ).instances:
        begin, finish = instance.bounds(UTC)
        assert begin >= low
        assert high is None or finish <= high


# ---- budgets: rule expansion is bounded by iterations, not by occurrences -------------------------

LEAP_DAYS = "FREQ=DAILY;COUNT=50000;BYMONTH=2;BYMONTHDAY=29"


def test_walking_a_sparse_rule_charges_each_period_dateutil_examines() -> None:
    rule = build_rule("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29", datetime(2024, 3, 1), None)
    budget = Budget(10**6)
    assert list(islice(walk(rule, budget), 2)) == [datetime(2028, 2, 29), datetime(2032, 2, 29)]
    # Two occurrences, but about eight years of days looked at (and one charge per occurrence).
    assert 2900 < budget.spent < 3000


def test_walking_stops_as_soon_as_the_budget_is_spent() -> None:
    rule = build_rule(LEAP_DAYS, datetime(2024, 3, 1), None)
    budget = Budget(5000)
    with pytest.raises(BudgetExceeded):
        list(walk(rule, budget))
    assert budget.spent == 5001


@pytest.mark.parametrize(
    "rule", [LEAP_DAYS, "FREQ=HOURLY;COUNT=50000;BYMONTH=2;BYMONTHDAY=29", "FREQ=DAILY;COUNT=1000000"]
)
def test_a_counted_rule_whose_end_is_beyond_the_budget_is_refused_at_the_budget(rule: str) -> None:
    canonical = normalize_rrule(rule, dtstart=datetime(2024, 3, 1, 9), tz=BERLIN)
    series = Series(datetime(2024, 3, 1, 9), datetime(2024, 3, 1, 10), "Europe/Berlin", canonical)
    budget = Budget(10_000)
    with pytest.raises(BudgetExceeded, match=r"COUNT=.* needs more than 10000 steps"):
        span(series, budget=budget)
    assert budget.spent == 10_001


def test_a_counted_rule_within_the_budget_keeps_its_exact_end() -> None:
    series = Series(datetime(2024, 3, 1, 9), datetime(2024, 3, 1, 10), "UTC", "FREQ=DAILY;COUNT=4000")
    assert span(series)[1] == datetime(2024, 3, 1, 10, tzinfo=UTC) + timedelta(days=3999)


def test_a_rule_too_sparse_to_find_is_refused_within_the_budget() -> None:
    budget = Budget(10_000)
    with pytest.raises(RecurrenceError, match="no occurrence was found in 10000 steps"):
        normalize_rrule(
            "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", dtstart=datetime(2024, 3, 1), tz=None, budget=budget
        )
    assert budget.spent == 10_001


def test_expanding_a_sparse_series_is_cut_at_its_budget_and_says_so() -> None:
    series = Series(datetime(2024, 3, 1, 9), datetime(2024, 3, 1, 10), "UTC", LEAP_DAYS)
    budget = Budget(3000)
    found = expand(
        series,
        datetime(2040, 1, 1, tzinfo=UTC),
        datetime(2041, 1, 1, tzinfo=UTC),
        date_zone=UTC,
        limit=5000,
        budget=budget,
    )
    assert found.truncated
    assert found.instances == []
    assert budget.spent == 3001


def test_a_shared_budget_stops_the_work_of_all_its_children() -> None:
    whole = Budget(5000, what="the file")
    rule = "FREQ=DAILY;COUNT=1;BYMONTH=2;BYMONTHDAY=29"
    series = Series(datetime(2024, 3, 1), datetime(2024, 3, 2), None, rule)
    span(series, budget=whole.child(4000))  # about 2900 steps: to 2028, and on to 2032 to see it ends
    assert 2900 < whole.spent < 3000
    with pytest.raises(BudgetExceeded, match="the file would take more than 5000 steps"):
        span(series, budget=whole.child(4000))


def test_a_stored_series_beyond_a_lowered_budget_is_stored_open_ended() -> None:
    series = Series(datetime(2024, 3, 1, 9), datetime(2024, 3, 1, 10), "UTC", "FREQ=DAILY;COUNT=4000")
    assert stored_span(series, budget=10_000)[1] == datetime(2024, 3, 1, 10, tzinfo=UTC) + timedelta(
        days=3999
    )
    assert stored_span(series, budget=1000) == (datetime(2024, 3, 1, 9, tzinfo=UTC), None)
