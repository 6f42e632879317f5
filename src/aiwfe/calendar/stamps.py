"""Per-user calendar stamps (the Redis part, read and bump, is core/stamps.py): a value in Redis that changes
after every commit that changes one of the user's calendars or their events. A cached range read names its
page by the stamp (read in the session's round trip, auth/sessions.py) instead of asking PostgreSQL for the
calendars' versions.

Every SQLAlchemy session records which owners its flushes and bulk statements touch and, after the commit,
deletes their stamps; the next read makes a fresh random one. A writer cannot forget this: the hooks are on
every session, and a session that changes calendars without a way to reach Redis fails its flush.

A stamp is never reused: it is random and carries the Redis server's run id, so a flushed Redis (no stamp) or
one restarted from disk or failed over (a stamp of an earlier run, maybe from before a write whose bump it
lost) gives a new stamp, and no page cached before is asked for again. A stamp lives as long as a cached page,
which also bounds how long a bump lost to an unreachable Redis could show an old page.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import event, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction
from sqlalchemy.util import await_only

from aiwfe.core import sql
from aiwfe.core.db import settings_of
from aiwfe.core.logging import get_logger
from aiwfe.core.redis import create_redis
from aiwfe.core.settings import Settings
from aiwfe.core.stamps import CalendarStamps

log = get_logger(__name__)

# Where a session finds the API's ``CalendarStamps`` (``async_sessionmaker(info=...)``); a session without
# one (the worker, the CLI) bumps through a client of its engine's settings.
INFO_KEY = "aiwfe_calendar_stamps"
# A bulk statement on calendars or events may name the owners it touches (``bump_version`` does), which
# saves the query that finds them.
OWNERS_OPTION = "aiwfe_calendar_owners"
_TOUCHED_KEY = "aiwfe_calendar_owners_touched"
# Tables by name, and the models imported inside the hooks: calendar/models.py imports this module (so the
# hooks exist wherever the tables can be written).
_CALENDARS, _EVENTS = "calendars", "calendar_events"


# ---- recording what a session changes, bumping after its commit -------------------------------------


def _touched(session: Session) -> set[uuid.UUID | None]:
    found: set[uuid.UUID | None] | None = session.info.get(_TOUCHED_KEY)
    if found is None:
        _check_reachable(session)
        found = session.info[_TOUCHED_KEY] = set()
    return found


def _check_reachable(session: Session) -> None:
    if INFO_KEY not in session.info and _settings(session) is None:
        # Refused before the commit: a change no cached read would see is worse than a failed write.
        raise RuntimeError(
            "this session changes calendars but cannot reach Redis to bump their stamps: make its "
            "engine with aiwfe.core.db.create_engine or give it CalendarStamps in its info"
        )


def _settings(session: Session) -> Settings | None:
    bind = session.get_bind()
    return settings_of(bind) if bind is not None else None


def _table(obj: object) -> str | None:
    table = getattr(type(obj), "__table__", None)
    return getattr(table, "name", None)


@event.listens_for(Session, "after_flush")
def _note_flushed(session: Session, _context: UOWTransaction) -> None:
    owners: set[uuid.UUID] = set()
    calendar_ids: set[uuid.UUID] = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        name = _table(obj)
        if name == _CALENDARS:
            owners.update(_values(obj, "owner_id"))
        elif name == _EVENTS:
            calendar_ids.update(_values(obj, "calendar_id"))
    if not owners and not calendar_ids:
        return
    touched = _touched(session)
    touched.update(owners)
    if calendar_ids:
        touched.update(_owners_of(session, calendar_ids))


def _values(obj: object, attribute: str) -> set[uuid.UUID]:
    """The attribute's value and, when this flush changed it, its value before."""
    history = inspect(obj).attrs[attribute].history
    found = {value for value in (*history.unchanged, *history.added, *history.deleted) if value is not None}
    if not found:  # not loaded (expired): load it rather than miss an owner
        value = getattr(obj, attribute)
        if value is not None:
            found.add(value)
    return found


def _owners_of(session: Session, calendar_ids: set[uuid.UUID]) -> set[uuid.UUID | None]:
    """Owners of these calendars: from the session's own objects when loaded (the writers load the
    calendar they write to), else one query in the flush's transaction."""
    from aiwfe.calendar.models import Calendar

    owners: set[uuid.UUID | None] = set()
    unknown = set()
    mapper = inspect(Calendar)
    for calendar_id in calendar_ids:
        found = session.identity_map.get(mapper.identity_key_from_primary_key((calendar_id,)))
        if found is not None:
            owners.add(found.owner_id)
        else:
            unknown.add(calendar_id)
    for obj in session.deleted:  # a calendar deleted in this flush is no longer in the identity map
        if isinstance(obj, Calendar) and obj.id in unknown:
            owners.add(obj.owner_id)
            unknown.discard(obj.id)
    if unknown:
        query = select(Calendar.__table__.c.owner_id).where(Calendar.__table__.c.id.in_(unknown)).distinct()
        owners.update(session.connection().execute(query).scalars())
    return owners


@event.listens_for(Session, "do_orm_execute")
def _note_bulk(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    table = getattr(state.statement, "table", None)
    name = getattr(table, "name", None)
    if name not in (_CALENDARS, _EVENTS):
        return
    touched = _touched(state.session)
    declared = state.execution_options.get(OWNERS_OPTION)
    if declared is not None:
        touched.update(declared)
        return
    where = getattr(state.statement, "whereclause", None)
    if state.is_insert or where is None or isinstance(state.parameters, list):
        touched.add(None)  # which owners it touches cannot be told here: every user's pages go
        return
    touched.update(_owners_where(state, name, where))


def _owners_where(state: ORMExecuteState, name: str, where: Any) -> set[uuid.UUID | None]:
    """The owners of the rows an UPDATE or DELETE is about to touch, found before it runs."""
    from aiwfe.calendar.models import Calendar, Event

    query = select(Calendar.owner_id).distinct()
    if name == _EVENTS:
        query = query.join_from(Event, Calendar, Event.calendar_id == Calendar.id)
    query = query.where(where)
    found = state.session.connection().execute(query, state.parameters or {})
    return set(found.scalars())


@event.listens_for(Session, "after_commit")
def _bump(session: Session) -> None:
    touched = session.info.pop(_TOUCHED_KEY, None)
    if touched:
        # The commit of an AsyncSession runs in SQLAlchemy's greenlet: await_only reaches the loop.
        await_only(_bump_committed(session, touched))


async def _bump_committed(session: Session, touched: set[uuid.UUID | None]) -> None:
    stamps: CalendarStamps | None = session.info.get(INFO_KEY)
    try:
        if stamps is not None:
            await stamps.bump(touched)
            return
        settings = _settings(session)
        assert settings is not None  # checked when the first change was recorded
        await _bump_once(settings, touched)
    except RedisError as exc:
        # The stamps expire with the pages they name, which bounds how long this can show an old page.
        log.error("calendar_stamp_bump_failed", error=str(exc), owners=len(touched))


@asynccontextmanager
async def hot_write(db: AsyncSession, owner: uuid.UUID) -> AsyncIterator[sql.Connection]:
    """A transaction on the hot path (core/sql.py) that changes ``owner``'s calendars or events, beside
    the session ``db``: after its commit ``owner``'s stamp is bumped, as a session's commit would."""
    _check_reachable(db.sync_session)  # refused before the write, as for a session's
    async with sql.transaction(sql.engine_of(db)) as conn:
        yield conn
    await _bump_committed(db.sync_session, {owner})


async def _bump_once(settings: Settings, owners: set[uuid.UUID | None]) -> None:
    """A worker's or the CLI's bump: a client for this commit (each task runs its own event loop)."""
    redis = create_redis(settings)
    try:
        await CalendarStamps(redis, settings).bump(owners)
    finally:
        await redis.aclose()
