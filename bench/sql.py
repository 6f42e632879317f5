"""CPU per statement: the ORM, SQLAlchemy Core, and the hot path of ``aiwfe/core/sql.py`` (Core compiled once,
run on the pooled asyncpg connection), against one real PostgreSQL, on uvloop as the API runs.

Each case runs 2,000 times after a warm-up; the figure is this process's CPU time (``time.process_time``) per
case, so the database server's own work is not in it. Nothing is asserted.

    .venv/bin/python bench/sql.py [--rounds 2000]
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import uvloop
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from aiwfe.auth.models import User
from aiwfe.calendar.models import Calendar, Event
from aiwfe.core import db, sql
from aiwfe.core.settings import Settings
from aiwfe_stack.servers.scratch import scratch_servers

CALENDARS = select(Calendar.__table__).where(Calendar.owner_id == bindparam("owner"))
_EVENT_KEYS = [c.key for c in Event.__table__.c if c.key not in ("created_at", "updated_at")]
ADD = insert(Event).values({k: bindparam(k) for k in _EVENT_KEYS}).returning(Event.created_at)
BUMP = (
    update(Calendar)
    .where(Calendar.id == bindparam("calendar"))
    .values(version=Calendar.version + 1)
    .returning(Calendar.version)
)
COUNT = (
    select(func.count())
    .select_from(Event.__table__)
    .join(Calendar.__table__, Calendar.id == Event.calendar_id)
    .where(Calendar.owner_id == bindparam("owner"))
)
HOT = {
    name: sql.Query(s, name)
    for name, s in (("calendars", CALENDARS), ("add", ADD), ("bump", BUMP), ("count", COUNT))
}


def _event(calendar: uuid.UUID) -> dict[str, object]:
    return {
        "id": uuid.uuid4(),
        "calendar_id": calendar,
        "uid": uuid.uuid4().hex,
        "recurrence_id": None,
        "summary": "Bench",
        "description": "",
        "location": "",
        "all_day": False,
        "dtstart": datetime(2027, 1, 4, 9),
        "dtend": datetime(2027, 1, 4, 10),
        "tzid": "UTC",
        "rrule": None,
        "rdates": [],
        "exdates": [],
        "status": "confirmed",
        "transparency": "opaque",
        "sequence": 0,
        "etag": "bench",
        "span_start": datetime(2027, 1, 4, 9, tzinfo=UTC),
        "span_end": datetime(2027, 1, 4, 10, tzinfo=UTC),
    }


async def _seed(engine: AsyncEngine) -> tuple[uuid.UUID, uuid.UUID]:
    owner, calendar = uuid.uuid4(), uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(insert(User).values(id=owner, email="bench@example.com", display_name="B"))
        await conn.execute(insert(Calendar).values(id=calendar, owner_id=owner, name="C", time_zone="UTC"))
    return owner, calendar


async def main(database_url: str, redis_url: str, rounds: int) -> None:
    engine = db.create_engine(Settings(database_url=database_url, redis_url=redis_url))
    sessions = db.create_sessionmaker(engine)
    owner, calendar = await _seed(engine)

    async def orm_read() -> None:
        async with sessions() as session:
            (await session.scalars(select(Calendar).where(Calendar.owner_id == owner))).all()

    async def core_read() -> None:
        async with engine.connect() as conn:
            (await conn.execute(CALENDARS, {"owner": owner})).all()

    async def hot_read() -> None:
        async with sql.connect(engine) as conn:
            await HOT["calendars"].rows(conn, owner=owner)

    async def core_write() -> None:
        async with engine.begin() as conn:
            await conn.execute(ADD, _event(calendar))
            await conn.execute(BUMP, {"calendar": calendar})
            await conn.execute(COUNT, {"owner": owner})

    async def hot_write() -> None:
        async with sql.transaction(engine) as conn:
            await HOT["add"].row(conn, **_event(calendar))
            await HOT["bump"].scalar(conn, calendar=calendar)
            await HOT["count"].scalar(conn, owner=owner)

    cases: list[tuple[str, Callable[[], Awaitable[None]]]] = [
        ("read: ORM session, one select", orm_read),
        ("read: Core connection, one select", core_read),
        ("read: hot path, one select", hot_read),
        ("write: Core transaction, 3 statements", core_write),
        ("write: hot path transaction, 3 statements", hot_write),
    ]
    print(f"{'case':45s} {'CPU us/case':>12s}")
    for name, case in cases:
        for _ in range(50):
            await case()
        began = time.process_time()
        for _ in range(rounds):
            await case()
        print(f"{name:45s} {(time.process_time() - began) * 1e6 / rounds:12.0f}")
    await engine.dispose()
    print(f"rerun: .venv/bin/python bench/sql.py --rounds {rounds}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    with scratch_servers("aiwfe-bench-sql-") as servers:
        uvloop.run(main(servers.database_url, servers.redis_url, args.rounds))
