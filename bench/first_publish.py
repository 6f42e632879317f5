"""The first request that queues a task after an API process starts, against the ones after it.

Starts real PostgreSQL and Redis in a temp folder, then, several times, one ``aiwfe api`` process. Each
time: one failed sign-in first (the database pool and the rate limiter's connection get made there), then
three password-reset requests, each of which queues a task, timed from the client. Before the API warmed its
Celery publisher at start-up (``aiwfe.worker.publish.warm``), the first of them did the publisher's one-time
work in a thread holding the GIL. Nothing is asserted.

    .venv/bin/python bench/first_publish.py [--runs 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from aiwfe_stack.ports import free_ports, wait_for_port
from aiwfe_stack.servers.scratch import scratch_servers
from api import api_env

AIWFE = str(Path(sys.executable).parent / "aiwfe")
WRONG_PASSWORD = "not the password at all"  # noqa: S105  # pragma: allowlist secret


def _timed(client: httpx.Client, path: str, body: dict[str, str]) -> tuple[int, float]:
    began = time.perf_counter()
    status = client.post(path, json=body).status_code
    return status, (time.perf_counter() - began) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="aiwfe-bench-first-publish-"))
    with scratch_servers("aiwfe-bench-first-publish-db-") as servers:
        env = api_env(servers.database_url, servers.redis_url)
        print(
            f"{'run':<5}{'first sign-in (ms)':>20}" + "".join(f"{f'reset {n} (ms)':>14}" for n in (1, 2, 3))
        )
        for run in range(args.runs):
            (port,) = free_ports(1)
            with (logs / f"api-{run}.log").open("wb") as log:
                proc = subprocess.Popen(
                    [AIWFE, "api", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
                )
            try:
                wait_for_port(port, timeout=60)
                with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                    client.get("/health").raise_for_status()
                    wrong = {"email": "nobody@example.com", "password": WRONG_PASSWORD}
                    _, sign_in = _timed(client, "/api/v1/auth/login", wrong)
                    resets = []
                    for n in range(3):
                        status, ms = _timed(
                            client,
                            "/api/v1/auth/password-reset/request",
                            {"email": f"r{run}.{n}@example.com"},
                        )
                        if status != 202:
                            sys.exit(f"the reset request answered {status}; see {logs}")
                        resets.append(ms)
            finally:
                proc.terminate()
                proc.wait(30)
            print(f"{run:<5}{sign_in:>20.1f}" + "".join(f"{ms:>14.1f}" for ms in resets))
    print(f"API logs: {logs}")
    print(f"rerun: .venv/bin/python bench/first_publish.py --runs {args.runs}")


if __name__ == "__main__":
    main()
