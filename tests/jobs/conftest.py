"""Two real API replicas (uvicorn processes) for the jobs tests: progress streams need a real server,
and a stream must work on a replica other than the one that started the job."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.processes import process_env, stop

from aiwfe.core.settings import Settings
from aiwfe_stack.ports import free_ports


@dataclass
class Replica:
    url: str
    log: Path


def _start(aiwfe_bin: str, settings: Settings, folder: Path, name: str, **env: str) -> Iterator[Replica]:
    (port,) = free_ports(1)
    environment = process_env(
        settings,
        AIWFE_ARGON2_TIME_COST="1",
        AIWFE_ARGON2_MEMORY_KIB="8192",
        AIWFE_ARGON2_PARALLELISM="1",
        # Every upload becomes a worker job.
        AIWFE_CALENDAR_IMPORT_INLINE_BYTES="0",
        AIWFE_JOBS_EVENTS_POLL_SECONDS="0.05",
        AIWFE_JOBS_EVENTS_HEARTBEAT_SECONDS="0.3",
        **env,
    )
    log = folder / f"{name}.log"
    with log.open("wb") as handle:
        proc = subprocess.Popen(
            [aiwfe_bin, "api", "--host", "127.0.0.1", "--port", str(port)],
            env=environment,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"API replica {name} did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.2)
        yield Replica(url, log)
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def replica_a(
    aiwfe_bin: str, base_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Replica]:
    yield from _start(aiwfe_bin, base_settings, tmp_path_factory.mktemp("api-a"), "api-a")


@pytest.fixture(scope="session")
def replica_b(
    aiwfe_bin: str, base_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Replica]:
    """The second replica; its streams end after two seconds, to show the limit."""
    yield from _start(
        aiwfe_bin,
        base_settings,
        tmp_path_factory.mktemp("api-b"),
        "api-b",
        AIWFE_JOBS_EVENTS_MAX_SECONDS="2",
    )
