"""Limits that keep one user from freezing or filling the service: rules whose expansion exceeds the
recurrence budget are refused, and event caps per calendar and per user hold for creates, edits,
imports and syncs, with a 422 problem and nothing written."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient
from tests.calendar import sync_support
from tests.calendar.conftest import Caller, sign_up
from tests.calendar.sync_support import IcsServer, event_rows, run_sync, vcalendar, vevent

from aiwfe.api.app import create_app
from aiwfe.calendar.sync.deps import sync_enqueuer
from aiwfe.core.settings import Settings

ics_server = sync_support.ics_server
ICS = {"Content-Type": "text/calendar"}
MARCH = {"start": "2026-03-01T00:00:00Z", "end": "2026-04-01T00:00:00Z"}
CAPS = {"calendar_max_events_per_calendar": 3, "calendar_max_events_per_user": 4}


@pytest.fixture
def capped_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={**CAPS, "outbound_allow_networks": "127.0.0.1/32"})


@pytest.fixture
async def capped(capped_settings: Settings) -> AsyncIterator[Caller]:
    app = create_app(capped_settings)

    def no_enqueue() -> Any:
        # The tests run each sync themselves; a worker left from another test must not run it too.
        async def enqueue(calendar_id: uuid.UUID) -> None:
            return None

        return enqueue

    app.dependency_overrides[sync_enqueuer] = no_enqueue
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as http,
    ):
        yield await sign_up(http, "erin@example.com")


def _timed(day: int, **fields: Any) -> dict[str, Any]:
    return {
        "start": {"date_time": f"2026-03-{day:02d}T09:00:00", "time_zone": "Europe/Berlin"},
        "end": {"date_time": f"2026-03-{day:02d}T10:00:00", "time_zone": "Europe/Berlin"},
        **fields,
    }


def _assert_problem(response: Any, status: int, code: str, fragment: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status
    assert problem["type"].endswith(code), problem
    assert fragment in problem["detail"], problem


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=DAILY;COUNT=50000;BYMONTH=2;BYMONTHDAY=29",
        "FREQ=HOURLY;COUNT=50000;BYMONTH=2;BYMONTHDAY=29",
        "FREQ=HOURLY;COUNT=1000000",
    ],
)
async def test_a_rule_beyond_the_recurrence_budget_is_a_422_and_stores_nothing(
    alice: Caller, rule: str
) -> None:
    calendar = await alice.calendar()
    response = await alice.post(
        "/api/v1/events", json={"calendar_id": calendar["id"], **_timed(2, rrule=rule)}
    )
    _assert_problem(response, 422, "invalid-event", "steps")
    assert response.json()["field"] == "rrule"
    assert await alice.occurrences(**MARCH) == []


async def test_an_edit_to_a_rule_beyond_the_budget_is_a_422_and_keeps_the_event(alice: Caller) -> None:
    calendar = await alice.calendar()
    event = await alice.event(calendar["id"], **_timed(2, rrule="FREQ=WEEKLY;COUNT=3"))
    response = await alice.patch(
        f"/api/v1/events/{event['id']}", json={"rrule": "FREQ=DAILY;COUNT=50000;BYMONTH=2;BYMONTHDAY=29"}
    )
    _assert_problem(response, 422, "invalid-event", "steps")
    assert len(await alice.occurrences(**MARCH)) == 3


async def test_an_import_with_a_rule_beyond_the_budget_is_a_422_and_imports_nothing(alice: Caller) -> None:
    calendar = await alice.calendar()
    data = vcalendar(
        vevent("fine", "Fine"),
        vevent("leap", "Leap", extra="RRULE:FREQ=DAILY;COUNT=50000;BYMONTH=2;BYMONTHDAY=29\r\n"),
    )
    response = await alice.post(f"/api/v1/calendars/{calendar['id']}/import", content=data, headers=ICS)
    _assert_problem(response, 422, "import-failed", "event 'leap': RRULE: COUNT=50000 needs more than")
    assert await alice.occurrences(**MARCH) == []


async def test_the_calendar_cap_refuses_the_event_after_the_last_allowed(capped: Caller) -> None:
    calendar = await capped.calendar()
    for day in (1, 2, 3):
        await capped.event(calendar["id"], **_timed(day, summary=f"e{day}"))
    response = await capped.post("/api/v1/events", json={"calendar_id": calendar["id"], **_timed(4)})
    _assert_problem(response, 422, "too-many-events", "at most 3 events")
    assert len(await capped.occurrences(**MARCH)) == 3


async def test_the_user_cap_counts_every_calendar_of_the_user(capped: Caller) -> None:
    first, second = await capped.calendar(), await capped.calendar(name="Home")
    for day in (1, 2, 3):
        await capped.event(first["id"], **_timed(day))
    await capped.event(second["id"], **_timed(4))
    response = await capped.post("/api/v1/events", json={"calendar_id": second["id"], **_timed(5)})
    _assert_problem(response, 422, "too-many-events", "at most 4 events together")
    assert len(await capped.occurrences(**MARCH)) == 4


async def test_an_override_that_would_exceed_the_cap_is_refused(capped: Caller) -> None:
    calendar = await capped.calendar()
    series = await capped.event(calendar["id"], **_timed(2, rrule="FREQ=DAILY;COUNT=5"))
    await capped.event(calendar["id"], **_timed(20))
    moved = await capped.patch(
        f"/api/v1/events/{series['id']}",
        params={"scope": "occurrence", "recurrence_id": "2026-03-03T08:00:00Z"},
        json={"summary": "moved"},
    )
    assert moved.status_code == 200, moved.text
    response = await capped.patch(
        f"/api/v1/events/{series['id']}",
        params={"scope": "occurrence", "recurrence_id": "2026-03-04T08:00:00Z"},
        json={"summary": "one too many"},
    )
    _assert_problem(response, 422, "too-many-events", "at most 3 events")
    assert [i["summary"] for i in await capped.occurrences(**MARCH)].count("one too many") == 0


async def test_an_import_over_the_cap_is_refused_whole(capped: Caller) -> None:
    calendar = await capped.calendar()
    await capped.event(calendar["id"], **_timed(1, summary="kept"))
    data = vcalendar(*(vevent(f"u{n}", f"Imported {n}") for n in range(3)))
    response = await capped.post(f"/api/v1/calendars/{calendar['id']}/import", content=data, headers=ICS)
    _assert_problem(response, 422, "too-many-events", "this would make 4")
    assert [i["summary"] for i in await capped.occurrences(**MARCH)] == ["kept"]


async def test_a_sync_over_the_cap_fails_and_keeps_the_calendar_as_it_was(
    capped: Caller, capped_settings: Settings, ics_server: IcsServer
) -> None:
    ics_server.serve("/team.ics", vcalendar(vevent("a", "A"), vevent("b", "B")))
    calendar = await capped.calendar(name="Team", source="ics", source_url=ics_server.url("/team.ics"))
    assert await run_sync(capped_settings, calendar["id"]) == "changed"
    ics_server.serve("/team.ics", vcalendar(*(vevent(uid, uid.upper()) for uid in "abcd")))
    assert await run_sync(capped_settings, calendar["id"]) == "error"
    state = (await capped.get(f"/api/v1/calendars/{calendar['id']}")).json()
    assert "at most 3 events" in state["sync_error"]
    assert [uid for uid, *_ in await event_rows(capped_settings, calendar["id"])] == ["a", "b"]


async def test_a_sync_reads_its_source_with_the_configured_recurrence_budget(
    capped: Caller, capped_settings: Settings, ics_server: IcsServer
) -> None:
    # About 2,900 steps to find the one leap day and the end: within the default budget, not within 1000.
    leap = vevent("leap", "Leap", extra="RRULE:FREQ=DAILY;COUNT=1;BYMONTH=2;BYMONTHDAY=29\r\n")
    ics_server.serve("/leap.ics", vcalendar(leap))
    calendar = await capped.calendar(name="Leap", source="ics", source_url=ics_server.url("/leap.ics"))
    assert await run_sync(capped_settings, calendar["id"]) == "changed"
    tight = capped_settings.model_copy(update={"calendar_recurrence_budget": 1000})
    ics_server.serve("/leap.ics", vcalendar(leap, vevent("b", "B")))
    assert await run_sync(tight, calendar["id"]) == "error"
    state = (await capped.get(f"/api/v1/calendars/{calendar['id']}")).json()
    assert "needs more than 1000 steps" in state["sync_error"]
    assert [uid for uid, *_ in await event_rows(capped_settings, calendar["id"])] == ["leap"]
