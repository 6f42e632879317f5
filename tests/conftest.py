"""Session-wide real servers: PostgreSQL and Redis on free loopback ports in temp folders.

They are started with the same code the local stack uses (``aiwfe_stack``); each test gets clean
tables and an empty Redis database.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import time_machine
from httpx import ASGITransport, AsyncClient
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from tests.processes import RunningProcess, process_env, stop, wait_for_key

from aiwfe.core.heartbeat import heartbeat_key
from aiwfe.core.settings import Environment, Settings
from aiwfe_stack.ports import free_ports
from aiwfe_stack.postgres import PostgresCluster
from aiwfe_stack.redis import RedisServer
from aiwfe_stack.servers.radicale import Radicale
from aiwfe_stack.servers.smtp_sink import SmtpSink
from aiwfe_stack.system import ensure_installed

APP_DB = "aiwfe_test"
APP_USER = "aiwfe_test"
APP_PASSWORD = "test-password-not-secret"


def _scratch_dir(prefix: str) -> Path:
    # /tmp itself, not pytest's 0700 basetemp: the postgres user (when we are root) must traverse it.
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


@pytest.fixture(scope="session")
def system_packages() -> None:
    ensure_installed()


@pytest.fixture(scope="session")
def postgres(system_packages: None) -> Iterator[PostgresCluster]:
    root = _scratch_dir("aiwfe-test-pg-")
    (port,) = free_ports(1)
    cluster = PostgresCluster(root / "data", port, "test-superuser-password")
    cluster.init()
    with (root / "postgres.log").open("wb") as log:
        cluster.start(log)
        try:
            asyncio.run(cluster.ensure_database(APP_DB, APP_USER, APP_PASSWORD))
            yield cluster
        finally:
            cluster.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server(system_packages: None) -> Iterator[RedisServer]:
    root = _scratch_dir("aiwfe-test-redis-")
    (port,) = free_ports(1)
    server = RedisServer(root, port, "test-redis-password")
    with (root / "redis.log").open("wb") as log:
        server.start(log)
        try:
            yield server
        finally:
            server.stop()
    shutil.rmtree(root, ignore_errors=True)


def database_url(cluster: PostgresCluster, database: str = APP_DB) -> str:
    return f"postgresql+asyncpg://{APP_USER}:{APP_PASSWORD}@127.0.0.1:{cluster.port}/{database}"


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[SmtpSink]:
    """A real SMTP server; the worker delivers mail to it and tests read the messages."""
    (port,) = free_ports(1)
    sink = SmtpSink(_scratch_dir("aiwfe-test-mail-"), port)
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()
        shutil.rmtree(sink.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def radicale() -> Iterator[Radicale]:
    """A real Radicale CalDAV server; ``radicale.create_calendar(user, password)`` makes a collection."""
    (port,) = free_ports(1)
    root = _scratch_dir("aiwfe-test-radicale-")
    server = Radicale(root / "radicale", port).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def base_settings(postgres: PostgresCluster, redis_server: RedisServer, smtp_sink: SmtpSink) -> Settings:
    """Settings for the test servers; the schema is migrated to head once per session."""
    from aiwfe.core.migrations import upgrade

    settings = Settings(
        env=Environment.TEST,
        database_url=database_url(postgres),
        redis_url=redis_server.url,
        log_level="INFO",
        worker_metrics_port=0,
        heartbeat_interval_seconds=1.0,
        smtp_port=smtp_sink.controller.port,
        public_url="http://testserver",
        # Cheap hashing keeps the suite fast; bench/auth.py measures the production parameters.
        argon2_time_cost=1,
        argon2_memory_kib=8192,
        argon2_parallelism=1,
    )
    upgrade(settings)
    return settings


@pytest.fixture
def settings(base_settings: Settings, smtp_sink: SmtpSink) -> Iterator[Settings]:
    yield base_settings
    _reset(base_settings, smtp_sink.folder)


def _reset(settings: Settings, mail_folder: Path) -> None:
    """Empty every application table and the Redis database after a test."""

    async def truncate() -> None:
        engine = create_async_engine(settings.database_url.get_secret_value())
        async with engine.begin() as conn:
            tables = (
                await conn.execute(
                    text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                        "AND tablename <> 'alembic_version'"
                    )
                )
            ).scalars()
            names = ", ".join(f'"{name}"' for name in tables)
            if names:
                await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        await engine.dispose()

    # A worker task still finishing (an email, an audit row) can hold a row lock that makes the TRUNCATE
    # the deadlock victim; PostgreSQL rolled it back whole, so trying again is safe.
    for attempt in range(5):
        try:
            asyncio.run(truncate())
            break
        except DBAPIError as exc:
            if "deadlock detected" not in str(exc) or attempt == 4:
                raise
            time.sleep(0.5)
    redis.Redis.from_url(settings.redis_url.get_secret_value()).flushdb()
    # Only this session's sink: another test run on the machine keeps its own mail.
    for message in mail_folder.glob("*.eml"):
        message.unlink()


@asynccontextmanager
async def app_client(settings: Settings, base_url: str = "http://testserver") -> AsyncIterator[AsyncClient]:
    """An httpx client talking to a fresh app (lifespan run) over ASGI: one more API replica."""
    from aiwfe.api.app import create_app

    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url=base_url) as http,
    ):
        yield http


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncClient]:
    async with app_client(settings) as http:
        yield http


@pytest.fixture(scope="session")
def aiwfe_bin() -> str:
    path = (
        Path(os.environ.get("VIRTUAL_ENV", Path(__file__).resolve().parents[1] / ".venv")) / "bin" / "aiwfe"
    )
    assert path.exists(), f"{path} missing: run `make test`, which installs the package"
    return str(path)


@pytest.fixture(scope="session")
def worker(
    aiwfe_bin: str, base_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningProcess]:
    folder = tmp_path_factory.mktemp("worker")
    (metrics_port,) = free_ports(1)
    name = "celery@test-worker"
    env = process_env(
        base_settings,
        AIWFE_WORKER_METRICS_PORT=str(metrics_port),
        AIWFE_WORKER_METRICS_DIR=str(folder / "metrics"),
        AIWFE_WORKER_NAME=name,
        AIWFE_SMTP_PORT=str(base_settings.smtp_port),
        # Calendar sync tests serve their sources on 127.0.0.1 (only that address: not all of loopback).
        AIWFE_OUTBOUND_ALLOW_NETWORKS="127.0.0.1/32",
    )
    log = folder / "worker.log"
    with log.open("wb") as handle:
        proc = subprocess.Popen([aiwfe_bin, "worker"], env=env, stdout=handle, stderr=subprocess.STDOUT)
    running = RunningProcess(proc, log, env, metrics_port, name)
    try:
        wait_for_key(base_settings, heartbeat_key("worker", name))
        yield running
    finally:
        stop(proc)


# The instants the time-sensitive tests run at (issue #19), so none passes only on the day it was written:
# Berlin wall times on a Sunday and a Monday, on both DST change days (after the jump), on New Year's Eve an
# hour before midnight and on a leap day. Tests take them with the ``instant`` fixture.
INSTANTS = {
    "sunday": "2027-01-10T23:30:00+01:00",
    "monday": "2027-01-11T00:30:00+01:00",
    "dst-spring": "2027-03-28T03:30:00+02:00",
    "dst-autumn": "2027-10-31T02:30:00+01:00",
    "new-years-eve": "2027-12-31T23:00:00+01:00",
    "leap-day": "2028-02-29T12:00:00+01:00",
}


@pytest.fixture(params=list(INSTANTS.values()), ids=list(INSTANTS))
def instant(request: pytest.FixtureRequest) -> Iterator[datetime]:
    """This process's clock (time.time, datetime.now, date.today) moved to each instant, ticking on.

    Servers and subprocesses (PostgreSQL's now(), the worker) keep the real time: a test taking this fixture
    checks what the code in this process decides from the clock."""
    start = datetime.fromisoformat(request.param)
    with time_machine.travel(start, tick=True):
        yield start


@contextmanager
def recorded_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """Every statement ``engine``'s connections run while the block runs: through SQLAlchemy, and straight
    on asyncpg (the hot path, aiwfe/core/sql.py), whose connections get a query logger at checkout."""
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    def log_queries(record: Any) -> None:
        statements.append(record.query)

    def checked_out(dbapi_connection: Any, *_: object) -> None:
        dbapi_connection.driver_connection.add_query_logger(log_queries)

    def checked_in(dbapi_connection: Any, *_: object) -> None:
        if dbapi_connection is not None:
            dbapi_connection.driver_connection.remove_query_logger(log_queries)

    sync = engine.sync_engine
    listeners = [(sync, "before_cursor_execute", record), (sync.pool, "checkout", checked_out)]
    listeners.append((sync.pool, "checkin", checked_in))
    for target, name, listener in listeners:
        event.listen(target, name, listener)
    try:
        yield statements
    finally:
        for target, name, listener in listeners:
            event.remove(target, name, listener)
