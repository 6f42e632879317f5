"""Readiness checks: PostgreSQL, Redis, migrations at head, worker and beat heartbeats.

The API is ready when its own dependencies (PostgreSQL, Redis, schema) are; a stale worker or
beat marks the report ``degraded`` but does not take API replicas out of rotation, which would
turn a background outage into a full one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from aiwfe.core.heartbeat import ROLES, freshest_heartbeats
from aiwfe.core.metrics import READY_CHECK
from aiwfe.core.migrations import head_revision, is_known_revision
from aiwfe.core.settings import Settings

CRITICAL = ("postgres", "redis", "migrations")


@dataclass
class CheckResult:
    status: str  # "ok" | "fail" | "stale"
    latency_ms: float
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class ReadinessReport:
    status: str  # "ok" | "degraded" | "fail"
    checks: dict[str, CheckResult]
    failed: list[str]
    degraded: list[str]

    @property
    def ready(self) -> bool:
        return self.status != "fail"


async def _timed(
    name: str, check: Callable[[], Awaitable[dict[str, Any]]], limit: float
) -> tuple[str, CheckResult]:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(check(), limit)
        status = detail.pop("status", "ok")
    except TimeoutError:
        status, detail = "fail", {"error": f"no answer within {limit:g}s"}
    except Exception as exc:  # any failure of a dependency is a failed check, reported not raised
        status, detail = "fail", {"error": f"{type(exc).__name__}: {exc}"[:300]}
    return name, CheckResult(status, round((time.perf_counter() - started) * 1000, 2), detail)


async def check_readiness(engine: AsyncEngine, redis: Redis, settings: Settings) -> ReadinessReport:
    """Run every check concurrently, each bounded by the ready-check timeout."""

    async def postgres() -> dict[str, Any]:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return {}

    async def redis_ping() -> dict[str, Any]:
        await redis.ping()
        return {}

    async def migrations() -> dict[str, Any]:
        async with engine.connect() as conn:
            current = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        head = head_revision()
        if current == head:
            return {"status": "ok", "current": current, "head": head}
        # A schema newer than this code (a rolling upgrade migrated it first) is fine: migrations are
        # expand/contract, so old replicas keep serving until they are replaced.
        ahead = current is not None and not is_known_revision(current)
        return {"status": "ok" if ahead else "fail", "current": current, "head": head, "ahead": ahead}

    async def heartbeats() -> dict[str, Any]:
        beats = await freshest_heartbeats(redis)
        return {role: beats[role] for role in ROLES if role in beats}

    timeout = settings.ready_check_timeout_seconds
    results = dict(
        await asyncio.gather(
            _timed("postgres", postgres, timeout),
            _timed("redis", redis_ping, timeout),
            _timed("migrations", migrations, timeout),
        )
    )
    _, beats = await _timed("heartbeats", heartbeats, timeout)
    for role in ROLES:
        beat = beats.detail.get(role)
        if beat is None:
            detail: dict[str, Any] = {"error": "no heartbeat"} if beats.status == "ok" else beats.detail
            results[role] = CheckResult("stale", beats.latency_ms, detail)
            continue
        fresh = beat.age_seconds <= settings.heartbeat_stale_seconds
        results[role] = CheckResult(
            "ok" if fresh else "stale",
            beats.latency_ms,
            {"age_seconds": round(beat.age_seconds, 1), "name": beat.name},
        )

    failed = [name for name in CRITICAL if results[name].status != "ok"]
    stale = [name for name in ROLES if results[name].status != "ok"]
    for name, result in results.items():
        READY_CHECK.labels(name).set(1 if result.status == "ok" else 0)
    status = "fail" if failed else ("degraded" if stale else "ok")
    return ReadinessReport(status=status, checks=results, failed=failed, degraded=stale)
