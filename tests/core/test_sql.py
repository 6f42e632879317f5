"""Hot-path SQL (core/sql.py): a Core statement run on the pooled asyncpg connection gives the values the
ORM gives (enums, JSON, UUIDs, times), its transaction is all or nothing, and a broken connection is not lent
again.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest
from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from aiwfe.auth.models import User
from aiwfe.calendar.models import Calendar, Event, EventStatus, Transparency
from aiwfe.core import db, sql
from aiwfe.core.settings import Settings

EVENTS = Event.__table__
EVENT_BY_ID = sql.Query(select(EVENTS).where(Event.id == bindparam("id")), "test.event")
CONFIRMED = sql.Query(
    select(Event.id).where(Event.calendar_id == bindparam("calendar"), Event.status == EventStatus.CONFIRMED),
    "test.confirmed",
)
_GIVEN = [c.key for c in EVENTS.c if c.key not in ("created_at", "updated_at")]
ADD_EVENT = sql.Query(
    insert(Event).values({key: bindparam(key) for key in _GIVEN}).returning(Event.status, Event.rdates),
    "test.add",
)
BUMP = sql.Query(
    update(Calendar).where(Calendar.id == bindparam("calendar")).values(version=Calendar.version + 1),
    "test.bump",
)
VERSION = sql.Query(select(Calendar.version).where(Calendar.id == bindparam("calendar")), "test.version")


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = db.create_engine(settings)
    yield engine
    await engine.dispose()


async def _calendar(engine: AsyncEngine) -> uuid.UUID:
    owner, calendar = uuid.uuid4(), uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(insert(User).values(id=owner, email=f"{owner}@example.com", display_name="S"))
        await conn.execute(insert(Calendar).values(id=calendar, owner_id=owner, name="C", time_zone="UTC"))
    return calendar


def _event(calendar: uuid.UUID, **changes: object) -> dict[str, object]:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "calendar_id": calendar,
        "uid": uuid.uuid4().hex,
        "recurrence_id": None,
        "summary": "Standup",
        "description": "",
        "location": "",
        "all_day": False,
        "dtstart": datetime(2027, 3, 1, 9),
        "dtend": datetime(2027, 3, 1, 10),
        "tzid": "Europe/Berlin",
        "rrule": "FREQ=WEEKLY",
        "rdates": ["20270305T090000"],
        "exdates": [],
        "status": EventStatus.TENTATIVE,
        "transparency": Transparency.TRANSPARENT,
        "sequence": 2,
        "etag": "e1",
        "span_start": datetime(2027, 3, 1, 8, tzinfo=UTC),
        "span_end": None,
    }
    return {**values, **changes}


async def test_rows_carry_the_values_the_orm_reads(engine: AsyncEngine) -> None:
    calendar = await _calendar(engine)
    values = _event(calendar)
    async with sql.transaction(engine) as conn:
        status, rdates = await ADD_EVENT.row(conn, **values) or (None, None)
    assert (status, rdates) == (EventStatus.TENTATIVE, ["20270305T090000"])
    async with sql.connect(engine) as conn:
        row = await EVENT_BY_ID.row(conn, id=values["id"])
    async with engine.connect() as conn:
        orm = (await conn.execute(select(EVENTS).where(Event.id == values["id"]))).one()
    assert row == tuple(orm)
    assert isinstance(row[EVENTS.c.keys().index("status")], EventStatus)


async def test_a_value_given_in_the_statement_is_bound_by_itself(engine: AsyncEngine) -> None:
    calendar = await _calendar(engine)
    confirmed = _event(calendar, status=EventStatus.CONFIRMED)
    async with sql.transaction(engine) as conn:
        await ADD_EVENT.row(conn, **confirmed)
        await ADD_EVENT.row(conn, **_event(calendar))
        assert await CONFIRMED.rows(conn, calendar=calendar) == [(confirmed["id"],)]


async def test_a_missing_parameter_is_refused_before_the_database(engine: AsyncEngine) -> None:
    async with sql.connect(engine) as conn:
        with pytest.raises(TypeError, match="'calendar'"):
            await VERSION.scalar(conn)


async def test_a_transaction_that_raises_leaves_nothing(engine: AsyncEngine) -> None:
    calendar = await _calendar(engine)
    twice = _event(calendar)

    async def bump_then_add_twice() -> None:
        async with sql.transaction(engine) as conn:
            await BUMP.execute(conn, calendar=calendar)
            await ADD_EVENT.row(conn, **twice)
            await ADD_EVENT.row(conn, **{**twice, "id": uuid.uuid4()})  # the same UID again

    with pytest.raises(asyncpg.UniqueViolationError):
        await bump_then_add_twice()
    async with sql.connect(engine) as conn:
        assert await VERSION.scalar(conn, calendar=calendar) == 1
        assert not conn.is_in_transaction()


async def test_a_connection_that_broke_is_not_lent_again(engine: AsyncEngine, settings: Settings) -> None:
    async with sql.connect(engine) as conn:
        pid = conn.get_server_pid()
    other = db.create_engine(settings)
    try:
        async with other.connect() as admin:
            await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await other.dispose()

    async def read_on_the_same_connection() -> None:
        async with sql.connect(engine) as conn:
            assert conn.get_server_pid() == pid  # a connection used a moment ago is not pinged
            await VERSION.scalar(conn, calendar=uuid.uuid4())

    with pytest.raises(sql.BROKEN):
        await read_on_the_same_connection()
    async with sql.connect(engine) as conn:
        assert conn.get_server_pid() != pid
        assert await VERSION.scalar(conn, calendar=uuid.uuid4()) is None
