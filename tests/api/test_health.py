"""/health, /ready and /metrics against real PostgreSQL and Redis."""

from __future__ import annotations

import time

import asyncpg
import redis
from httpx import ASGITransport, AsyncClient
from tests.conftest import APP_PASSWORD, APP_USER, database_url

from aiwfe.api.app import create_app
from aiwfe.core.heartbeat import heartbeat_key
from aiwfe.core.migrations import head_revision
from aiwfe.core.settings import Settings
from aiwfe_stack.ports import free_ports
from aiwfe_stack.postgres import PostgresCluster


def _beat(settings: Settings, role: str, age: float = 0.0) -> None:
    client = redis.Redis.from_url(settings.redis_url.get_secret_value())
    # An age on the real clock, which the health check compares the beat with.
    client.set(heartbeat_key(role, f"test-{role}"), f"{time.time() - age:.3f}", ex=600)


async def _get(
    settings: Settings, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, object], str]:
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as http,
    ):
        response = await http.get(path, headers=headers)
    return response.status_code, response.json(), response.headers["content-type"]


async def test_health_answers_without_touching_dependencies(settings: Settings) -> None:
    (dead,) = free_ports(1)
    broken = Settings(
        env=settings.env,
        database_url=f"postgresql+asyncpg://x:y@127.0.0.1:{dead}/none",
        redis_url=f"redis://127.0.0.1:{dead}/0",
    )
    status, body, _ = await _get(broken, "/health")
    assert status == 200
    assert body["status"] == "ok"


async def test_ready_is_ok_when_every_dependency_and_heartbeat_is_fresh(settings: Settings) -> None:
    _beat(settings, "worker")
    _beat(settings, "beat")
    status, body, _ = await _get(settings, "/ready")
    assert status == 200
    assert body["status"] == "ok"
    checks = body["checks"]
    assert isinstance(checks, dict)
    assert {name: checks[name]["status"] for name in checks} == {
        "postgres": "ok",
        "redis": "ok",
        "migrations": "ok",
        "worker": "ok",
        "beat": "ok",
    }
    assert checks["migrations"]["current"] == head_revision()
    assert all(isinstance(check["latency_ms"], float) for check in checks.values())


async def test_ready_is_degraded_not_failing_when_the_worker_heartbeat_is_stale(settings: Settings) -> None:
    _beat(settings, "worker", age=settings.heartbeat_stale_seconds + 30)
    _beat(settings, "beat")
    status, body, _ = await _get(settings, "/ready")
    assert status == 200
    assert body["status"] == "degraded"
    assert body["degraded"] == ["worker"]
    assert body["checks"]["worker"]["status"] == "stale"  # type: ignore[index]


async def test_ready_reports_a_missing_beat_heartbeat(settings: Settings) -> None:
    _beat(settings, "worker")
    _, body, _ = await _get(settings, "/ready")
    assert body["degraded"] == ["beat"]
    assert body["checks"]["beat"]["error"] == "no heartbeat"  # type: ignore[index]


async def test_ready_is_503_naming_redis_when_redis_is_down(settings: Settings) -> None:
    (dead,) = free_ports(1)
    broken = Settings(
        env=settings.env, database_url=settings.database_url, redis_url=f"redis://127.0.0.1:{dead}/0"
    )
    status, body, content_type = await _get(broken, "/ready")
    assert status == 503
    assert content_type == "application/problem+json"
    assert body["failed"] == ["redis"]
    assert "redis" in str(body["detail"])
    assert body["checks"]["postgres"]["status"] == "ok"  # type: ignore[index]
    # liveness is unaffected
    status, _, _ = await _get(broken, "/health")
    assert status == 200


async def test_ready_through_the_proxy_says_only_ok_or_failed_per_check(settings: Settings) -> None:
    (dead,) = free_ports(1)
    broken = Settings(
        env=settings.env, database_url=settings.database_url, redis_url=f"redis://127.0.0.1:{dead}/0"
    )
    # Caddy adds X-Forwarded-For to every request it proxies; a client cannot take it away.
    status, body, _ = await _get(broken, "/ready", headers={"X-Forwarded-For": "203.0.113.9"})
    assert status == 503
    assert body["failed"] == ["redis"]
    assert body["checks"] == {
        "postgres": {"status": "ok"},
        "redis": {"status": "failed"},
        "migrations": {"status": "ok"},
        "worker": {"status": "failed"},
        "beat": {"status": "failed"},
    }
    assert str(dead) not in str(body)
    assert "Error" not in str(body)


async def test_ready_is_503_naming_postgres_and_migrations_when_postgres_is_down(settings: Settings) -> None:
    (dead,) = free_ports(1)
    broken = Settings(
        env=settings.env,
        database_url=f"postgresql+asyncpg://x:y@127.0.0.1:{dead}/none",
        redis_url=settings.redis_url,
    )
    status, body, _ = await _get(broken, "/ready")
    assert status == 503
    assert body["failed"] == ["postgres", "migrations"]
    assert body["checks"]["redis"]["status"] == "ok"  # type: ignore[index]


async def test_ready_is_503_naming_migrations_on_an_unmigrated_database(
    settings: Settings, postgres: PostgresCluster
) -> None:
    await postgres.ensure_database("aiwfe_unmigrated", APP_USER, APP_PASSWORD)
    unmigrated = Settings(
        env=settings.env,
        database_url=database_url(postgres, "aiwfe_unmigrated"),
        redis_url=settings.redis_url,
    )
    status, body, _ = await _get(unmigrated, "/ready")
    assert status == 503
    assert body["failed"] == ["migrations"]


async def test_metrics_expose_red_per_route_template_in_flight_and_db_pool(
    client: AsyncClient, settings: Settings
) -> None:
    await client.get("/health")
    await client.get("/api/v1/does-not-exist")
    await client.get("/ready")
    text = (await client.get("/metrics")).text
    assert 'aiwfe_http_requests_total{method="GET",route="/health",status="200"}' in text
    assert 'aiwfe_http_requests_total{method="GET",route="<unmatched>",status="404"}' in text
    assert 'aiwfe_http_request_duration_seconds_bucket{le="0.5",method="GET",route="/ready"}' in text
    assert "aiwfe_http_requests_in_flight" in text
    assert f"aiwfe_db_pool_size {float(settings.db_pool_size)}" in text
    assert 'aiwfe_ready_check_up{check="postgres"} 1.0' in text


async def test_metrics_label_nested_routes_with_their_full_template(client: AsyncClient) -> None:
    await client.get("/api/v1/me/tokens/not-a-uuid")
    text = (await client.get("/metrics")).text
    assert 'route="/api/v1/me/tokens/{token_id}"' in text


async def test_a_scrape_refreshes_the_readiness_gauges(client: AsyncClient, settings: Settings) -> None:
    _beat(settings, "worker")
    text = (await client.get("/metrics")).text
    assert 'aiwfe_ready_check_up{check="worker"} 1.0' in text
    assert 'aiwfe_ready_check_up{check="beat"} 0.0' in text


async def test_ready_accepts_a_schema_newer_than_the_code_during_a_rolling_upgrade(
    settings: Settings, postgres: PostgresCluster
) -> None:
    await postgres.ensure_database("aiwfe_newer", APP_USER, APP_PASSWORD)
    url = database_url(postgres, "aiwfe_newer")
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS alembic_version (version_num varchar(32) PRIMARY KEY)")
        await conn.execute("DELETE FROM alembic_version")
        await conn.execute("INSERT INTO alembic_version VALUES ('9999_from_a_newer_release')")
    finally:
        await conn.close()
    newer = Settings(env=settings.env, database_url=url, redis_url=settings.redis_url)
    status, body, _ = await _get(newer, "/ready")
    assert status == 200
    assert body["checks"]["migrations"]["ahead"] is True  # type: ignore[index]
