"""Throwaway PostgreSQL + Redis in a temp folder, migrated to head: for benchmarks and drills."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aiwfe.core.migrations import upgrade
from aiwfe.core.settings import Settings
from aiwfe_stack.ports import free_ports
from aiwfe_stack.postgres import PostgresCluster
from aiwfe_stack.redis import RedisServer
from aiwfe_stack.system import ensure_installed


@dataclass(frozen=True)
class ScratchServers:
    database_url: str
    redis_url: str


@contextmanager
def scratch_servers(prefix: str = "aiwfe-scratch-") -> Iterator[ScratchServers]:
    """Start both servers on free loopback ports, migrate, yield their URLs, then remove everything."""
    ensure_installed()
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)  # the postgres user (when we are root) must reach the data folder
    pg_port, redis_port = free_ports(2)
    pg = PostgresCluster(root / "pg", pg_port, secrets.token_urlsafe(16))
    rd = RedisServer(root / "redis", redis_port, secrets.token_urlsafe(16))
    app_password = secrets.token_urlsafe(16)
    pg.init()
    pg.start(subprocess.DEVNULL)
    try:
        rd.start(subprocess.DEVNULL)
        asyncio.run(pg.ensure_database("aiwfe", "aiwfe", app_password))
        servers = ScratchServers(
            f"postgresql+asyncpg://aiwfe:{app_password}@127.0.0.1:{pg_port}/aiwfe", rd.url
        )
        upgrade(Settings(database_url=servers.database_url, redis_url=servers.redis_url))
        yield servers
    finally:
        rd.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)
