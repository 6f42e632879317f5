"""Sign-in throughput with the configured argon2id parameters, and the cost of a session lookup.

Starts real PostgreSQL and Redis in a temp folder, runs the API in-process over ASGI, and prints
logins per second and p50/p95 latency of an authenticated vs an unauthenticated request.

    .venv/bin/python bench/auth.py [--logins N] [--requests N]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from httpx import ASGITransport, AsyncClient

from aiwfe.api.app import create_app
from aiwfe.core.migrations import upgrade
from aiwfe.core.settings import Settings
from aiwfe.ops.ports import free_ports
from aiwfe.ops.postgres import PostgresCluster
from aiwfe.ops.redis import RedisServer
from aiwfe.ops.system import ensure_installed

PASSWORD = "benchmark passphrase 2026"  # noqa: S105 (a throwaway benchmark account)


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000


async def _measure(settings: Settings, logins: int, requests: int) -> None:
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://bench") as http,
    ):
        # One account per login keeps the per-account rate limit out of the figure.
        for i in range(logins):
            await http.post(
                "/api/v1/auth/register", json={"email": f"b{i}@example.com", "password": PASSWORD}
            )
        started = time.perf_counter()
        for i in range(logins):
            response = await http.post(
                "/api/v1/auth/login",
                json={"email": f"b{i}@example.com", "password": PASSWORD, "mode": "token"},
            )
            assert response.status_code == 200, response.text
        elapsed = time.perf_counter() - started
        token = response.json()["session_token"]

        anon: list[float] = []
        authed: list[float] = []
        for _ in range(requests):
            t = time.perf_counter()
            await http.get("/health")
            anon.append(time.perf_counter() - t)
            t = time.perf_counter()
            await http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
            authed.append(time.perf_counter() - t)

    hasher = app.state.auth.hasher.parameters
    print(f"argon2id parameters: {hasher}")
    print(
        f"sign-ins: {logins} in {elapsed:.2f} s = {logins / elapsed:.1f} per second (one client, sequential)"
    )
    print(f"{'request':<36}{'p50 ms':>10}{'p95 ms':>10}")
    print(f"{'GET /health (no auth)':<36}{_pct(anon, 50):>10.2f}{_pct(anon, 95):>10.2f}")
    print(f"{'GET /api/v1/me (session lookup)':<36}{_pct(authed, 50):>10.2f}{_pct(authed, 95):>10.2f}")
    print(f"added by authentication, p50: {_pct(authed, 50) - _pct(anon, 50):.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--logins", type=int, default=20)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()

    ensure_installed()
    root = Path(tempfile.mkdtemp(prefix="aiwfe-bench-auth-"))
    root.chmod(0o755)
    pg_port, redis_port = free_ports(2)
    pg = PostgresCluster(root / "pg", pg_port, "bench-superuser")
    rd = RedisServer(root / "redis", redis_port, "bench-redis")
    pg.init()
    pg.start(subprocess.DEVNULL)
    rd.start(subprocess.DEVNULL)
    try:
        asyncio.run(pg.ensure_database("aiwfe", "aiwfe", "bench-app"))
        settings = Settings(
            database_url=f"postgresql+asyncpg://aiwfe:bench-app@127.0.0.1:{pg_port}/aiwfe",
            redis_url=rd.url,
            log_level="WARNING",
            login_rate_per_ip="100000/minute",
            register_rate_per_ip="100000/minute",
        )
        upgrade(settings)
        asyncio.run(_measure(settings, args.logins, args.requests))
    finally:
        rd.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)
    print(f"rerun: .venv/bin/python bench/auth.py --logins {args.logins} --requests {args.requests}")


if __name__ == "__main__":
    main()
