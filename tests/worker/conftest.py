"""A real Celery worker (``aiwfe worker``) against the session's Redis, started once per module."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from aiwfe.core.heartbeat import heartbeat_key
from aiwfe.core.settings import Settings
from aiwfe.ops.ports import free_ports


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


@pytest.fixture(scope="module")
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
