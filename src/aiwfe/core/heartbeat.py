"""Liveness heartbeats of the worker and beat, kept in Redis and read by ``/ready``.

Each process writes ``aiwfe:heartbeat:<role>:<name>`` = unix time, with a TTL, every few seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis
from redis.asyncio import Redis as AsyncRedis

PREFIX = "aiwfe:heartbeat"
ROLES = ("worker", "beat")


def heartbeat_key(role: str, name: str) -> str:
    return f"{PREFIX}:{role}:{name}"


def write_heartbeat(client: redis.Redis, role: str, name: str, ttl_seconds: float) -> None:
    """Record that ``name`` (a worker node or the beat) is alive now."""
    client.set(heartbeat_key(role, name), f"{time.time():.3f}", ex=max(1, int(ttl_seconds)))


@dataclass(frozen=True)
class Heartbeat:
    role: str
    name: str
    age_seconds: float


async def freshest_heartbeats(client: AsyncRedis) -> dict[str, Heartbeat]:
    """The most recent heartbeat per role; a role with no live key is absent."""
    now = time.time()
    freshest: dict[str, Heartbeat] = {}
    keys = [key async for key in client.scan_iter(match=f"{PREFIX}:*", count=100)]
    if not keys:
        return freshest
    values = await client.mget(keys)
    for key, value in zip(keys, values, strict=True):
        if value is None:
            continue
        _, _, role, name = str(key).split(":", 3)
        age = max(0.0, now - float(value))
        if role not in freshest or age < freshest[role].age_seconds:
            freshest[role] = Heartbeat(role=role, name=name, age_seconds=age)
    return freshest
