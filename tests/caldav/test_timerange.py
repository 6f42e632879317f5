"""A calendar-query over a time range longer than any month view (caldav/timerange.py): the event loop
spends at most its inline budget of rule iterations deciding which resources occur, the rest is decided
in the expansion threads, and a query past their deadline is the range read's 503 problem."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from datetime import datetime

import httpx
import pytest
from tests.caldav.conftest import Account, LiveServer

from aiwfe.calendar.recurrence import Budget, expansion

INLINE = 100
EVENT = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:{uid}
DTSTAMP:20260101T000000Z
DTSTART:{start}
DTEND:{end}
{rule}SUMMARY:{uid}
END:VEVENT
END:VCALENDAR
"""
# Open-ended from March 2029, as DAVx⁵ asks: longer than any month view.
QUERY = """<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
<D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
<C:time-range start="20290301T000000Z"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"""
# The next 29 February after the window opens is three years of days away: about 1,100 rule iterations.
LEAP = "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29\n"


@pytest.fixture
def walks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Each rule walk of an expansion: the thread it ran in and the iterations it spent."""
    seen: list[tuple[str, int]] = []
    real = expansion.walk

    def spy(rule: object, budget: Budget) -> Iterator[datetime]:
        try:
            yield from real(rule, budget)  # type: ignore[arg-type]
        finally:
            seen.append((threading.current_thread().name, budget.spent))

    monkeypatch.setattr(expansion, "walk", spy)
    return seen


def put(account: Account, url: str, uid: str, start: str, end: str, rule: str = "") -> None:
    body = EVENT.format(uid=uid, start=start, end=end, rule=rule)
    answer = httpx.put(
        f"{url}{uid}.ics", content=body, auth=account.auth, headers={"Content-Type": "text/calendar"}
    )
    assert answer.status_code == 201, answer.text


def report(account: Account, url: str) -> httpx.Response:
    return httpx.request("REPORT", url, content=QUERY, auth=account.auth, headers={"Depth": "1"}, timeout=30)


def names(answer: httpx.Response) -> set[str]:
    assert answer.status_code == 207, answer.text
    return set(re.findall(r"/([^/<]+)\.ics</D:href>", answer.text))


def test_the_event_loop_decides_within_its_budget_and_the_threads_decide_the_rest(
    live_with: Callable[..., LiveServer], walks: list[tuple[str, int]]
) -> None:
    live = live_with(calendar_inline_expansion_steps=INLINE)
    alice = live.account("alice@example.com")
    url = alice.collection(alice.calendar()["id"])
    put(alice, url, "weekly", "20260105T090000Z", "20260105T100000Z", "RRULE:FREQ=WEEKLY\n")
    put(alice, url, "ended", "20260105T090000Z", "20260105T100000Z", "RRULE:FREQ=WEEKLY;COUNT=10\n")
    put(alice, url, "single", "20300310T140000Z", "20300310T150000Z")
    walks.clear()
    assert names(report(alice, url)) == {"weekly", "single"}
    # Small work: decided on the event loop, as before.
    assert walks
    assert not [name for name, _ in walks if name.startswith("aiwfe-expand")], walks

    put(alice, url, "leap", "20240229T140000Z", "20240229T150000Z", LEAP)
    walks.clear()
    assert names(report(alice, url)) == {"weekly", "single", "leap"}
    on_loop = [spent for name, spent in walks if not name.startswith("aiwfe-expand")]
    in_threads = [spent for name, spent in walks if name.startswith("aiwfe-expand")]
    # Each walk's budget may count the one step its parent (the loop's share) then refused.
    assert sum(on_loop) <= INLINE + len(on_loop), walks
    assert sum(in_threads) > INLINE, walks


def test_a_query_past_the_deadline_is_a_503_problem_and_retries_go_on_where_it_stopped(
    live_with: Callable[..., LiveServer],
) -> None:
    live = live_with(calendar_inline_expansion_steps=0, calendar_expansion_deadline_seconds=1e-6)
    alice = live.account("alice@example.com")
    url = alice.collection(alice.calendar()["id"])
    for n in range(6):
        put(alice, url, f"leap{n}", f"20240229T14{n:02d}00Z", "20240229T150000Z", LEAP)
    put(alice, url, "ended", "20260105T090000Z", "20260105T100000Z", "RRULE:FREQ=WEEKLY;COUNT=10\n")
    answer = report(alice, url)
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.headers["retry-after"] == "2"
    problem = answer.json()
    assert problem["type"].endswith("expansion-timeout")
    assert problem["status"] == 503
    assert "try again" in problem["detail"]
    for _retry in range(7):  # each attempt decides one resource at least
        answer = report(alice, url)
        if answer.status_code != 503:
            break
    assert names(answer) == {f"leap{n}" for n in range(6)}
