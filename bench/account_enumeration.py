"""Whether timing tells an existing account from a missing one: the password-reset request and registration,
for addresses that have an account and addresses that do not, with the production argon2id parameters.

Starts real PostgreSQL and Redis in a temp folder, runs the API in-process over ASGI (the reset mail task is
queued to Redis; no worker runs) and prints p50/p95 of each pair, interleaved so load drifts hit both alike.

    .venv/bin/python bench/account_enumeration.py [--requests N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from httpx import ASGITransport, AsyncClient

from aiwfe.api.app import create_app
from aiwfe.core.settings import Settings
from aiwfe_stack.servers.scratch import scratch_servers

PASSWORD = "benchmark passphrase 2026"  # noqa: S105 (a throwaway benchmark account)


def _pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000


async def _timed(http: AsyncClient, path: str, body: dict[str, str], status: int) -> float:
    started = time.perf_counter()
    response = await http.post(path, json=body)
    elapsed = time.perf_counter() - started
    assert response.status_code == status, response.text
    return elapsed


async def _measure(settings: Settings, requests: int) -> None:
    app = create_app(settings)
    figures: dict[str, list[float]] = {
        "reset request, account exists": [],
        "reset request, no account": [],
        "register, address taken": [],
        "register, new address": [],
    }
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://bench") as http,
    ):
        for i in range(requests):
            body = {"email": f"owner{i}@example.com", "password": PASSWORD}
            await _timed(http, "/api/v1/auth/register", body, 201)
        for i in range(requests):
            reset = "/api/v1/auth/password-reset/request"
            pair = [("reset request, account exists", "owner"), ("reset request, no account", "ghost")]
            # Alternate which goes first, so whatever the previous request left behind hits both alike.
            for name, who in pair if i % 2 else reversed(pair):
                figures[name].append(await _timed(http, reset, {"email": f"{who}{i}@example.com"}, 202))
            register = "/api/v1/auth/register"
            figures["register, address taken"].append(
                await _timed(http, register, {"email": f"owner{i}@example.com", "password": PASSWORD}, 201)
            )
            figures["register, new address"].append(
                await _timed(http, register, {"email": f"new{i}@example.com", "password": PASSWORD}, 201)
            )
    print(f"argon2id parameters: {app.state.auth.hasher.parameters}; {requests} requests of each kind")
    print(f"{'request':<34}{'p50 ms':>10}{'p95 ms':>10}")
    for name, values in figures.items():
        print(f"{name:<34}{_pct(values, 50):>10.2f}{_pct(values, 95):>10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    with scratch_servers("aiwfe-bench-enum-") as servers:
        settings = Settings(
            database_url=servers.database_url,
            redis_url=servers.redis_url,
            log_level="WARNING",
            register_rate_per_ip="100000/minute",
            email_rate_per_ip="100000/minute",
        )
        asyncio.run(_measure(settings, args.requests))
    print(f"rerun: .venv/bin/python bench/account_enumeration.py --requests {args.requests}")


if __name__ == "__main__":
    main()
