"""Failover drills of ``aiwfe validate`` against the local stack, under light load through Caddy.

``kill -9`` an API replica; ``kill -9`` a worker mid-task (the pool process running it, then the worker's
main process); restart Redis and PostgreSQL with data on both sides: a signed-in session, queued tasks and
committed writes are made before each restart and checked after it. Each drill reports its time to recover
and what was lost.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from aiwfe_stack.stack import Stack

RECOVERY_LIMIT_S = 60.0
PING = "aiwfe.system.ping"


class LightLoad:
    """A few threads GETting ``url`` continuously; counts answers and errors."""

    def __init__(self, url: str, verify: Any, threads: int = 3) -> None:
        self.url, self.verify = url, verify
        self.ok = self.errors = 0
        self.error_samples: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        with httpx.Client(verify=self.verify, timeout=5) as client:
            while not self._stop.is_set():
                try:
                    good = client.get(self.url).status_code == 200
                    detail = "non-200"
                except httpx.HTTPError as exc:
                    good, detail = False, type(exc).__name__
                with self._lock:
                    if good:
                        self.ok += 1
                    else:
                        self.errors += 1
                        if len(self.error_samples) < 5:
                            self.error_samples.append(detail)
                time.sleep(0.02)

    def counts(self) -> tuple[int, int]:
        with self._lock:
            return self.ok, self.errors

    def __enter__(self) -> LightLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)


def wait_for(check: Callable[[], bool], limit: float, interval: float = 0.2) -> float | None:
    """Seconds until ``check()`` is true, or None after ``limit`` seconds (errors count as not yet)."""
    began = time.monotonic()
    while time.monotonic() - began < limit:
        try:
            if check():
                return round(time.monotonic() - began, 2)
        except (httpx.HTTPError, OSError, ValueError):
            pass
        time.sleep(interval)
    return None


def stack_ready(stack: Stack) -> bool:
    code, body = stack.ready_report(timeout=3)
    return code == 200 and body.get("status") == "ok"


# ---- tasks on the stack's broker --------------------------------------------------------------


class Tasks:
    """Publishes the harmless ``aiwfe.system.ping`` probe task to the stack's broker, follows its results."""

    def __init__(self, stack: Stack) -> None:
        from aiwfe.core.settings import Settings
        from aiwfe.worker.app import create_celery

        env = stack.app_env()
        values = {key.removeprefix("AIWFE_").lower(): value for key, value in env.items()}
        self.app = create_celery(Settings.model_validate(values))

    def send(self, count: int, sleep_seconds: float, tag: str) -> list[Any]:
        return [
            self.app.send_task(
                PING, kwargs={"payload": {"drill": tag, "i": i}, "sleep_seconds": sleep_seconds}
            )
            for i in range(count)
        ]

    @staticmethod
    def states(results: list[Any]) -> list[str]:
        out = []
        for result in results:
            try:
                out.append(str(result.state))
            except Exception as exc:  # the result backend (Redis) may be restarting
                out.append(f"unknown ({type(exc).__name__})")
        return out

    def wait_done(self, results: list[Any], limit: float) -> tuple[int, float | None]:
        """How many succeeded within ``limit`` seconds, and when the last one did (None if some did not)."""
        began = time.monotonic()
        done = 0
        while time.monotonic() - began < limit:
            done = sum(1 for state in self.states(results) if state == "SUCCESS")
            if done == len(results):
                return done, round(time.monotonic() - began, 2)
            time.sleep(0.3)
        return done, None

    def running(self) -> list[dict[str, Any]]:
        """Tasks a worker is executing now (``inspect active``), each with its pool process id."""
        active = self.app.control.inspect(timeout=2).active() or {}
        return [dict(task) for tasks in active.values() for task in tasks]

    def worker_answers(self) -> bool:
        return bool(self.app.control.ping(timeout=1))

    def close(self) -> None:
        self.app.close()


def _wait_running(tasks: Tasks, limit: float = 20.0) -> list[dict[str, Any]]:
    """The tasks a worker runs, as soon as there are any (empty after ``limit`` seconds)."""
    began = time.monotonic()
    while time.monotonic() - began < limit:
        running = tasks.running()
        if running:
            return running
        time.sleep(0.2)
    return []


def _kill_pool_process(stack: Stack, tasks: Tasks) -> dict[str, Any]:
    """SIGKILL the pool process running a task: the main process replaces it, the task is redelivered."""
    name = "kill -9 worker mid-task (pool process)"
    results = tasks.send(4, 3.0, "pool-kill")
    running = _wait_running(tasks)
    if not running:
        return {"name": name, "recovery_s": None, "tasks": 4, "lost": 4, "detail": "no task started in 20 s"}
    victim = int(running[0]["worker_pid"])
    began = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    done, _ = tasks.wait_done(results, RECOVERY_LIMIT_S * 2)
    recovery = round(time.monotonic() - began, 2) if done == len(results) else None
    return {
        "name": name,
        "killed_pid": victim,
        "killed_task": running[0].get("id"),
        "recovery_s": recovery,
        "tasks": len(results),
        "completed": done,
        "lost": len(results) - done,
    }


def _kill_worker_main(stack: Stack, tasks: Tasks) -> dict[str, Any]:
    """SIGKILL the worker's main process (and so its pool) mid-task: supervisord starts a new worker.

    Tasks still queued are taken by the new worker. The tasks that were running were not acknowledged
    (``acks_late``), so they are not lost, but Redis redelivers them only after the visibility timeout.
    """
    name = "kill -9 worker mid-task (main process)"
    results = tasks.send(6, 3.0, "main-kill")
    running = _wait_running(tasks)
    in_flight = {str(task.get("id")) for task in running}
    pid = stack.program_pid("worker")
    if pid is None or not in_flight:
        return {
            "name": name,
            "recovery_s": None,
            "tasks": 6,
            "lost": 6,
            "detail": "no worker pid / task running",
        }
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    began = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    back = wait_for(
        lambda: (stack.program_pid("worker") or pid) != pid and tasks.worker_answers(), RECOVERY_LIMIT_S * 2
    )
    done, _ = tasks.wait_done(results, max(5.0, RECOVERY_LIMIT_S - (time.monotonic() - began)))
    states = dict(zip((r.id for r in results), tasks.states(results), strict=True))
    waiting = sorted(task_id for task_id, state in states.items() if state != "SUCCESS")
    return {
        "name": name,
        "killed_pid": pid,
        "killed_pool_pids": children.stdout.split(),
        "new_pid": stack.program_pid("worker"),
        "recovery_s": back,
        "tasks": len(results),
        "in_flight": sorted(in_flight),
        "completed": done,
        "lost": len(waiting),
        "not_completed_within_60s": waiting,
        "visibility_timeout_s": tasks.app.conf.broker_transport_options.get("visibility_timeout"),
    }


# ---- data on both sides of a restart -----------------------------------------------------------


class Survivors:
    """What exists before a restart: a cookie session, committed events and queued tasks."""

    def __init__(self, base_url: str, verify: Any, tasks: Tasks, tag: str) -> None:
        self.client = httpx.Client(base_url=base_url, verify=verify, timeout=15)
        self.tasks, self.tag = tasks, tag
        self.cookies: dict[str, str] = {}
        self.event_ids: dict[str, str] = {}
        self.results: list[Any] = []

    def make(self, events: int = 10, queued: int = 10) -> None:
        email = f"drill-{self.tag}-{uuid.uuid4().hex[:10]}@validation.example.org"
        password = secrets.token_urlsafe(18)
        self.client.post(
            "/api/v1/auth/register", json={"email": email, "password": password, "display_name": "Drill"}
        ).raise_for_status()
        login = self.client.post(
            "/api/v1/auth/login", json={"email": email, "password": password, "mode": "cookie"}
        )
        login.raise_for_status()
        self.cookies = dict(login.cookies.items())
        self.client.cookies.clear()
        csrf = str(login.json().get("csrf_token") or "")
        headers = {"X-CSRF-Token": csrf, "Cookie": self._cookie_header()}
        calendar = self.client.post(
            "/api/v1/calendars", json={"name": f"drill {self.tag}", "time_zone": "UTC"}, headers=headers
        )
        calendar.raise_for_status()
        begins = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
        for i in range(events):
            summary = f"drill {self.tag} {i} {uuid.uuid4().hex[:6]}"
            body = {
                "calendar_id": calendar.json()["id"],
                "summary": summary,
                "start": {"date_time": (begins + timedelta(hours=i)).isoformat(), "time_zone": "UTC"},
                "end": {
                    "date_time": (begins + timedelta(hours=i, minutes=30)).isoformat(),
                    "time_zone": "UTC",
                },
            }
            created = self.client.post("/api/v1/events", json=body, headers=headers)
            if created.status_code == 201:  # committed: the API answers 201 only after the commit
                self.event_ids[created.json()["id"]] = summary
        # Two long tasks keep both pool processes busy so the rest are still queued at the restart.
        self.results = self.tasks.send(2, 3.0, self.tag) + self.tasks.send(queued - 2, 0.0, self.tag)

    def _cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    def check(self) -> dict[str, Any]:
        headers = {"Cookie": self._cookie_header()}
        me = self.client.get("/api/v1/me", headers=headers)
        readable = 0
        for event_id, summary in self.event_ids.items():
            got = self.client.get(f"/api/v1/events/{event_id}", headers=headers)
            readable += got.status_code == 200 and got.json().get("summary") == summary
        done, _ = self.tasks.wait_done(self.results, RECOVERY_LIMIT_S)
        self.client.close()
        return {
            "session_after": me.status_code,
            "session_ok": me.status_code == 200,
            "writes_committed": len(self.event_ids),
            "writes_readable": readable,
            "writes_lost": len(self.event_ids) - readable,
            "tasks_queued": len(self.results),
            "tasks_completed": done,
            "tasks_lost": len(self.results) - done,
        }


def failover_drills(stack: Stack, base_url: str, verify: Any) -> list[dict[str, Any]]:
    drills: list[dict[str, Any]] = []
    url = f"{base_url}/api/v1/auth/providers"
    tasks = Tasks(stack)
    try:
        with LightLoad(url, verify) as load:
            time.sleep(1.0)
            drills.append(_kill_api(stack, load))
            drills.extend([_kill_pool_process(stack, tasks), _kill_worker_main(stack, tasks)])
            for program in ("redis", "postgres"):
                survivors = Survivors(base_url, verify, tasks, program)
                survivors.make()
                before_ok, before_err = load.counts()
                began = time.monotonic()
                result = stack.supervisorctl("restart", program)
                recovery = wait_for(lambda: stack_ready(stack), RECOVERY_LIMIT_S * 2)
                total = None if recovery is None else round(time.monotonic() - began, 2)
                after_ok, after_err = load.counts()
                drills.append(
                    {
                        "name": f"restart {program}",
                        "supervisorctl": result.stdout.strip()[-300:],
                        "recovery_s": total,
                        "requests": after_ok - before_ok + after_err - before_err,
                        "errors": after_err - before_err,
                        "data": survivors.check(),
                    }
                )
    finally:
        tasks.close()
    return drills


def _kill_api(stack: Stack, load: LightLoad) -> dict[str, Any]:
    """kill -9 api-1; supervisord restarts it, Caddy routes around it meanwhile."""
    before_ok, before_err = load.counts()
    pid = stack.program_pid("api-1")
    port = stack.settings.api_ports[0]
    if pid is None:
        return {"name": "kill -9 api-1", "recovery_s": None, "detail": "api-1 has no pid"}
    os.kill(pid, signal.SIGKILL)

    def replica_back() -> bool:
        new = stack.program_pid("api-1")
        if new is None or new == pid:
            return False
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200

    recovery = wait_for(replica_back, RECOVERY_LIMIT_S * 2)
    time.sleep(1.0)
    after_ok, after_err = load.counts()
    return {
        "name": "kill -9 api-1",
        "killed_pid": pid,
        "new_pid": stack.program_pid("api-1"),
        "recovery_s": recovery,
        "requests": after_ok - before_ok + after_err - before_err,
        "errors": after_err - before_err,
        "error_samples": list(load.error_samples),
    }
