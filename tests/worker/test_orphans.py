"""A worker killed mid-task (SIGKILL, its pool with it): the task runs again within seconds — on the same
worker restarted under its name, or on another worker once the dead one's heartbeat is stale — instead of
after the broker's one-hour visibility timeout. Real workers and Redis; a private Redis database so the
session's worker does not take these tasks."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery
from celery.result import AsyncResult
from tests.processes import process_env, wait_for_key

from aiwfe.core.heartbeat import heartbeat_key
from aiwfe.core.settings import Settings
from aiwfe.worker.app import create_celery
from aiwfe_stack.ports import free_ports

# Long enough that only a redelivery, not the first run, can finish while a test waits.
TASK_SECONDS = 8
# Well below the visibility timeout (3600 s): a result in this time proves the task was handed back.
WAIT_SECONDS = 90


@pytest.fixture
def private(base_settings: Settings) -> Settings:
    base = base_settings.redis_url.get_secret_value().rsplit("/", 1)[0]
    settings = base_settings.model_copy(update={"redis_url": base_settings.redis_url.__class__(f"{base}/9")})
    app = create_celery(settings)
    app.connection_for_write().default_channel.client.flushdb()
    return settings


class Workers:
    """Starts workers, each in its own process group (killing the group is a container or node dying)."""

    def __init__(self, aiwfe_bin: str, settings: Settings, folder: Path) -> None:
        self.aiwfe_bin, self.settings, self.folder = aiwfe_bin, settings, folder
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str) -> subprocess.Popen[bytes]:
        (metrics_port,) = free_ports(1)
        folder = self.folder / f"worker-{len(self.procs)}"
        folder.mkdir()
        env = process_env(
            self.settings,
            AIWFE_WORKER_NAME=name,
            AIWFE_WORKER_CONCURRENCY="1",
            AIWFE_WORKER_METRICS_PORT=str(metrics_port),
            AIWFE_WORKER_METRICS_DIR=str(folder / "metrics"),
        )
        with (folder / "worker.log").open("wb") as log:
            proc = subprocess.Popen(
                [self.aiwfe_bin, "worker"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append(proc)
        wait_for_key(self.settings, heartbeat_key("worker", name))
        return proc

    def runs_of(self, payload: str) -> int:
        """How many times a ping with ``payload`` ran, across every worker's log."""
        return sum(
            1
            for log in self.folder.glob("worker-*/worker.log")
            for line in log.read_text(errors="replace").splitlines()
            if '"event": "ping"' in line and f'"payload": "{payload}"' in line
        )

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


@pytest.fixture
def workers(aiwfe_bin: str, private: Settings, tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(aiwfe_bin, private, tmp_path)
    try:
        yield pool
    finally:
        pool.stop_all()


def _started_by(app: Celery, task: AsyncResult, limit: float = 60.0) -> str:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        meta = app.backend.get_task_meta(task.id)
        if meta["status"] == "STARTED":
            return str(meta["result"]["hostname"])
        time.sleep(0.1)
    raise AssertionError(f"task {task.id} never started")


def _kill(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def test_a_worker_restarted_under_its_name_reruns_the_task_it_was_killed_in(
    private: Settings, workers: Workers
) -> None:
    app = create_celery(private)
    first = workers.start("celery@orphan-a")
    task = app.send_task("aiwfe.system.ping", kwargs={"payload": "survive", "sleep_seconds": TASK_SECONDS})
    assert _started_by(app, task) == "celery@orphan-a"
    _kill(first)

    workers.start("celery@orphan-a")
    assert task.get(timeout=WAIT_SECONDS)["pong"] == "survive"
    assert workers.runs_of("survive") == 1  # the killed run never logged: it was killed mid-sleep


def test_another_worker_takes_over_the_task_of_a_dead_one(private: Settings, workers: Workers) -> None:
    app = create_celery(private)
    doomed = workers.start("celery@orphan-b")
    task = app.send_task("aiwfe.system.ping", kwargs={"payload": "elsewhere", "sleep_seconds": TASK_SECONDS})
    assert _started_by(app, task) == "celery@orphan-b"
    workers.start("celery@orphan-c")
    _kill(doomed)

    assert task.get(timeout=WAIT_SECONDS)["pong"] == "elsewhere"
    assert app.backend.get_task_meta(task.id)["status"] == "SUCCESS"


def test_a_live_workers_running_task_is_left_alone(private: Settings, workers: Workers) -> None:
    app = create_celery(private)
    workers.start("celery@orphan-d")
    task = app.send_task("aiwfe.system.ping", kwargs={"payload": "once", "sleep_seconds": TASK_SECONDS})
    assert _started_by(app, task) == "celery@orphan-d"
    workers.start("celery@orphan-e")  # a second worker scanning while the first runs
    assert task.get(timeout=WAIT_SECONDS)["pong"] == "once"
    # A wrongly restored copy would run on orphan-e right after; give it the time to show in the logs.
    time.sleep(TASK_SECONDS + 2)
    assert workers.runs_of("once") == 1
