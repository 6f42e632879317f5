"""Hot-path SQL: SQLAlchemy Core statements compiled once, run straight on the pooled asyncpg connection.

SQLAlchemy builds and types each statement (its SQL, its parameters' and columns' conversions); a call then
skips SQLAlchemy's per-execution work (cache key, execution context, greenlet hop, result objects), which
costs about 0.2 ms of CPU per statement against asyncpg's 0.02 (``bench/sql.py``). The connection is lent
by the engine's own pool, so its size, the idle ping and the statement timeout stay the engine's.

For the requests the load journey repeats (range reads, event writes); the ORM stays everywhere else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, TypeAlias

import asyncpg
from opentelemetry import trace
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.expression import ClauseElement, Select

Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record]"
Processor = Callable[[Any], Any]
# A connection that failed like this is gone: the pool must not lend it again.
DRIVER_DOWN = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,  # e.g. the server ended the connection while it sat idle
)
BROKEN = (*DRIVER_DOWN, OSError)
_tracer = trace.get_tracer(__name__)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # (name, its default, its conversion) per positional parameter, in order.
    params: tuple[tuple[str, Any, Processor | None], ...]
    # (index, conversion) of the result columns that need one (enums, JSON).
    columns: tuple[tuple[int, Processor], ...]


class Query:
    """One statement: keyword parameters in, rows (tuples in the statement's column order) out."""

    def __init__(self, statement: ClauseElement, name: str) -> None:
        self.statement = statement
        self.name = name  # the span's name, e.g. "calendar.page.events"
        self._compiled: _Compiled | None = None

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        params = []
        for name in compiled.positiontup or ():
            bind = compiled.binds[name]
            default = bind.value if not bind.required else _REQUIRED
            params.append((name, default, bind.type.bind_processor(dialect)))
        columns: list[tuple[int, Processor]] = []
        if isinstance(self.statement, Select | UpdateBase):
            for index, column in enumerate(self.statement.exported_columns):
                processor = column.type.result_processor(dialect, None)
                if processor is not None:
                    columns.append((index, processor))
        return _Compiled(compiled.string, tuple(params), tuple(columns))

    def _prepare(self, params: Mapping[str, Any]) -> tuple[_Compiled, list[Any]]:
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = self._compile(_DIALECT)
        return compiled, self._values(compiled, params)

    def _values(self, compiled: _Compiled, params: Mapping[str, Any]) -> list[Any]:
        values = []
        for name, default, processor in compiled.params:
            value = params.get(name, default)
            if value is _REQUIRED:
                raise TypeError(f"{self.name}: no value for the parameter {name!r}")
            values.append(processor(value) if processor is not None else value)
        return values

    async def rows(self, conn: Connection, **params: Any) -> list[tuple[Any, ...]]:
        compiled, values = self._prepare(params)
        with _span(self.name):
            records = await conn.fetch(compiled.sql, *values)
        if not compiled.columns:
            return [tuple(record) for record in records]
        found = []
        for record in records:
            row = list(record)
            for index, processor in compiled.columns:
                row[index] = processor(row[index])
            found.append(tuple(row))
        return found

    async def row(self, conn: Connection, **params: Any) -> tuple[Any, ...] | None:
        found = await self.rows(conn, **params)
        return found[0] if found else None

    async def scalar(self, conn: Connection, **params: Any) -> Any:
        found = await self.row(conn, **params)
        return found[0] if found else None

    async def execute(self, conn: Connection, **params: Any) -> None:
        compiled, values = self._prepare(params)
        with _span(self.name):
            await conn.execute(compiled.sql, *values)

    async def execute_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """The statement once per row of parameters, pipelined (asyncpg's ``executemany``)."""
        if not rows:
            return
        compiled, first = self._prepare(rows[0])
        batch = [first, *(self._values(compiled, row) for row in rows[1:])]
        with _span(self.name):
            await conn.executemany(compiled.sql, batch)


class _Required:
    def __repr__(self) -> str:
        return "<required>"


_REQUIRED: Any = _Required()
# What every engine of the project speaks (core/db.py); compiling needs no connection.
_DIALECT: Dialect = PGDialect_asyncpg()  # type: ignore[no-untyped-call]


@asynccontextmanager
async def connect(engine: AsyncEngine) -> AsyncIterator[Connection]:
    """Borrow a connection of ``engine``'s pool as asyncpg's own (no transaction: each statement commits);
    one that broke is thrown away, not lent again."""
    async with engine.connect() as pooled:
        raw = (await pooled.get_raw_connection()).driver_connection
        assert raw is not None  # a checked-out connection always has one
        try:
            yield raw
        except BaseException as exc:
            # Broken, closed, or left mid-transaction (cancelled): the pool must not lend it again.
            if isinstance(exc, BROKEN) or raw.is_closed() or raw.is_in_transaction():
                await pooled.invalidate()
            raise


def engine_of(session: AsyncSession) -> AsyncEngine:
    """The engine a request's or task's session was made for (``create_sessionmaker``)."""
    bind = session.bind
    if isinstance(bind, AsyncEngine):
        return bind
    if isinstance(bind, AsyncConnection):
        return bind.engine
    raise TypeError(f"a session bound to {bind!r} has no engine to borrow from")


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[Connection]:
    """A connection in a transaction: committed when the block ends, rolled back if it raises."""
    async with connect(engine) as conn, conn.transaction():
        yield conn


def _span(name: str) -> Any:
    # A span only when someone records it (core/tracing.py samples nothing without an exporter).
    if trace.get_current_span().is_recording():
        return _tracer.start_as_current_span(
            name, kind=trace.SpanKind.CLIENT, attributes={"db.system": "postgresql"}
        )
    return nullcontext()
