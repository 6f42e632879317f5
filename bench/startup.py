"""Startup time of the API and the worker: process start to ready (brief: any service ready < 30 s).

Starts real PostgreSQL and Redis in a temp folder (the same code as the local stack), then starts
each process several times and prints the time to its readiness signal. Nothing is asserted.

    .venv/bin/python bench/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import redis

from aiwfe.core.heartbeat import heartbeat_key
from aiwfe_stack.ports import free_ports
from aiwfe_stack.servers.scratch import scratch_servers

AIWFE = str(Path(sys.executable).parent / "aiwfe")


def _wait(predicate: Callable[[], bool], timeout: float = 60.0) -> float:
    started = time.perf_counter()
    while not predicate():
        if time.perf_counter() - started > timeout:
            raise TimeoutError("not ready within the timeout")
        time.sleep(0.02)
    return time.perf_counter() - started


def _api_once(env: dict[str, str]) -> tuple[float, float]:
    (port,) = free_ports(1)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [AIWFE, "api", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )

    def answers(path: str) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        _wait(lambda: answers("/health"))
        health = time.perf_counter() - started
        _wait(lambda: answers("/ready"))
        ready = time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(30)
    return health, ready


def _worker_once(env: dict[str, str], redis_url: str, run: int) -> float:
    name = f"celery@bench-{run}"
    client = redis.Redis.from_url(redis_url)
    (metrics_port,) = free_ports(1)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [AIWFE, "worker"],
        env={**env, "AIWFE_WORKER_NAME": name, "AIWFE_WORKER_METRICS_PORT": str(metrics_port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(lambda: client.get(heartbeat_key("worker", name)) is not None)
        return time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    with scratch_servers("aiwfe-bench-startup-") as servers:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIWFE_")}
        env.update(
            AIWFE_DATABASE_URL=servers.database_url,
            AIWFE_REDIS_URL=servers.redis_url,
            AIWFE_LOG_LEVEL="WARNING",
        )
        api = [_api_once(env) for _ in range(args.runs)]
        worker = [_worker_once(env, servers.redis_url, run) for run in range(args.runs)]

    def row(label: str, values: list[float]) -> str:
        return f"{label:<28}{statistics.median(values):>8.2f}{max(values):>8.2f}"

    print(f"startup time, seconds ({args.runs} runs; target < 30 s)")
    print(f"{'':<28}{'median':>8}{'max':>8}")
    print(row("api: start -> /health 200", [h for h, _ in api]))
    print(row("api: start -> /ready 200", [r for _, r in api]))
    print(row("worker: start -> heartbeat", worker))
    print(f"rerun: .venv/bin/python bench/startup.py --runs {args.runs}")


if __name__ == "__main__":
    main()
