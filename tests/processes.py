"""Helpers to run real aiwfe processes (worker, beat, api) in tests and wait for them."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from aiwfe.core.settings import Settings


@dataclass
class RunningProcess:
    proc: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str]
    metrics_port: int
    name: str

    def log_lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()


def process_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIWFE_")}
    env.update(
        AIWFE_ENV="test",
        AIWFE_DATABASE_URL=settings.database_url.get_secret_value(),
        AIWFE_REDIS_URL=settings.redis_url.get_secret_value(),
        AIWFE_HEARTBEAT_INTERVAL_SECONDS="1",
        AIWFE_LOG_LEVEL="INFO",
        **extra,
    )
    return env


def wait_for_key(settings: Settings, key: str, timeout: float = 60.0) -> None:
    client = redis.Redis.from_url(settings.redis_url.get_secret_value())
    deadline = time.monotonic() + timeout
    while client.get(key) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{key} never appeared")
        time.sleep(0.2)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
