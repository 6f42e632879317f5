"""A project-local Redis server: its configuration file and a foreground command.

Persistence follows the brief: AOF fsync every second plus an RDB snapshot every 6 hours; the
eviction policy is ``noeviction`` so queued Celery tasks and sessions can never be dropped silently.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import redis

from aiwfe_stack.paths import project_root
from aiwfe_stack.system import SystemSetupError, terminate


def persistence_conf() -> Path:
    """appendonly, appendfsync and save, shared with compose and the Helm chart."""
    return project_root() / "compose" / "redis" / "persistence.conf"


def persistence() -> dict[str, str]:
    """The persistence directives of compose/redis/persistence.conf, the one place they are set."""
    lines = (line.strip() for line in persistence_conf().read_text().splitlines())
    return dict(line.split(" ", 1) for line in lines if line and not line.startswith("#"))


@dataclass
class RedisServer:
    datadir: Path
    port: int
    password: str
    host: str = "127.0.0.1"
    maxmemory: str = "2gb"
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def conf_path(self) -> Path:
        return self.datadir / "redis.conf"

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@{self.host}:{self.port}/0"

    def command(self) -> list[str]:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemSetupError("Redis is not installed (Debian package: redis-server)")
        return [binary, str(self.conf_path)]

    def write_config(self) -> None:
        self.datadir.mkdir(parents=True, exist_ok=True, mode=0o700)
        lines = {
            "bind": self.host,
            "port": str(self.port),
            "protected-mode": "yes",
            "daemonize": "no",
            "dir": str(self.datadir),
            "requirepass": self.password,
            "maxmemory": self.maxmemory,
            "maxmemory-policy": "noeviction",
            **persistence(),
            "dbfilename": "dump.rdb",
            "logfile": '""',
            "loglevel": "notice",
        }
        text = "# Written by aiwfe.\n" + "".join(f"{key} {value}\n" for key, value in lines.items())
        self.conf_path.write_text(text)
        self.conf_path.chmod(0o600)

    def start(self, log: IO[bytes] | int | None = None) -> None:
        """Run as a child of this process (tests); the stack uses the supervisor instead."""
        self.write_config()
        self._proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        self.wait_ready()

    def client(self) -> redis.Redis:
        return redis.Redis(host=self.host, port=self.port, password=self.password, socket_timeout=2)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.client().ping():
                    return
            except redis.RedisError:
                pass
            if self._proc is not None and self._proc.poll() is not None:
                raise SystemSetupError(f"redis-server exited with code {self._proc.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"Redis on port {self.port} not ready within {timeout:g}s")
            time.sleep(0.1)

    def stop(self, timeout: float = 30.0) -> None:
        terminate(self._proc, timeout)
