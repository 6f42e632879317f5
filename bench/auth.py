"""Sign-in throughput with the configured argon2id parameters, what other parameters cost, and the cost of
a session lookup.

Starts real PostgreSQL and Redis in a temp folder, runs the API in-process over ASGI, and prints
logins per second and p50/p95 latency of an authenticated vs an unauthenticated request. Then it measures
the CPU time of one argon2id verify for the default (OWASP: m=19 MiB, t=2, p=1) and stronger choices, and
prints what each allows in sign-ins per second per core (CPU time, so other load on the machine hardly
moves it; p>1 spreads one verify over p threads but costs the same CPU in all).

    .venv/bin/python bench/auth.py [--logins N] [--requests N] [--verifies N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from argon2 import PasswordHasher
from httpx import ASGITransport, AsyncClient

from aiwfe.api.app import create_app
from aiwfe.core.settings import Settings
from aiwfe_stack.servers.scratch import scratch_servers

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


# (memory KiB, time cost, parallelism, what it is)
CHOICES = (
    (19456, 2, 1, "OWASP (the default)"),
    (7168, 5, 1, "Keycloak's default"),
    (47104, 1, 1, "OWASP, memory-heavy variant"),
    (65536, 3, 2, "aiwfe's former default"),
    (65536, 3, 4, "RFC 9106 second choice, 64 MiB"),
)


def argon2_costs(verifies: int) -> None:
    """CPU ms of one verify (all threads of the process), and the sign-ins per second per core it allows."""
    password = PASSWORD
    print(f"{'argon2id parameters':<50}{'CPU ms / verify':>16}{'sign-ins/s per core':>21}")
    for memory, t, p, name in CHOICES:
        hasher = PasswordHasher(time_cost=t, memory_cost=memory, parallelism=p)
        stored = hasher.hash(password)
        hasher.verify(stored, password)  # warm up the allocator
        started = time.process_time()
        for _ in range(verifies):
            hasher.verify(stored, password)
        cpu_ms = (time.process_time() - started) * 1000 / verifies
        label = f"m={memory // 1024} MiB t={t} p={p} ({name})"
        print(f"{label:<50}{cpu_ms:>16.1f}{1000 / cpu_ms:>21.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--logins", type=int, default=20)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--verifies", type=int, default=10, help="per argon2id choice")
    args = parser.parse_args()

    with scratch_servers("aiwfe-bench-auth-") as servers:
        settings = Settings(
            database_url=servers.database_url,
            redis_url=servers.redis_url,
            log_level="WARNING",
            login_rate_per_ip="100000/minute",
            register_rate_per_ip="100000/minute",
        )
        asyncio.run(_measure(settings, args.logins, args.requests))
    print()
    argon2_costs(args.verifies)
    print(
        f"rerun: .venv/bin/python bench/auth.py --logins {args.logins} --requests {args.requests}"
        f" --verifies {args.verifies}"
    )


if __name__ == "__main__":
    main()
