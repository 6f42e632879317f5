"""The asyncio Redis client used by the API (sessions, rate limits, heartbeats, pub/sub)."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from aiwfe.core.settings import Settings


def create_redis(settings: Settings) -> Redis:
    """A pooled client with socket timeouts and bounded retries with exponential backoff. Its connections
    carry the service's name (``CLIENT LIST`` shows who holds them), as PostgreSQL's do."""
    return Redis.from_url(
        settings.redis_url.get_secret_value(),
        decode_responses=True,
        client_name=settings.service_name,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=3),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )
