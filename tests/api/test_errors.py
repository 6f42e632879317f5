"""Every error reaches the client as problem+json; no traceback ever does."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import APIRouter, FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import BaseModel

from aiwfe.api.app import create_app
from aiwfe.core.errors import ConflictError
from aiwfe.core.settings import Settings

PROBLEM_KEYS = {"type", "title", "status", "detail"}


class Item(BaseModel):
    name: str
    count: int


def _app_with_probe_routes(settings: Settings) -> FastAPI:
    """The real app plus routes that raise, to exercise the error handlers end to end."""
    app = create_app(settings)
    probe = APIRouter(prefix="/api/v1/probe")

    @probe.post("/items")
    async def create_item(item: Item) -> Item:
        return item

    @probe.get("/conflict")
    async def conflict() -> None:
        raise ConflictError("that name is taken", field="name")

    @probe.get("/crash")
    async def crash() -> None:
        raise RuntimeError("secret internal detail /etc/passwd")

    app.include_router(probe)
    return app


@pytest.fixture
async def http(settings: Settings) -> AsyncIterator[AsyncClient]:
    app = _app_with_probe_routes(settings)
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        yield client


async def test_unknown_route_is_a_404_problem(http: AsyncClient) -> None:
    response = await http.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body.keys() >= PROBLEM_KEYS
    assert body["status"] == 404
    assert "/api/v1/nothing-here" in body["detail"]


async def test_malformed_json_is_a_422_problem(http: AsyncClient) -> None:
    response = await http.post(
        "/api/v1/probe/items", content=b'{"name": "x", ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    body = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert body["title"] == "The request is not valid"
    assert body["errors"][0]["type"] == "json_invalid"


async def test_invalid_field_is_a_422_problem_naming_the_field(http: AsyncClient) -> None:
    response = await http.post("/api/v1/probe/items", json={"name": "x", "count": "many"})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("body.count:")


async def test_domain_error_maps_to_its_status_and_extra_fields(http: AsyncClient) -> None:
    response = await http.get("/api/v1/probe/conflict")
    assert response.status_code == 409
    body = response.json()
    assert body["type"].endswith("/conflict")
    assert body["detail"] == "that name is taken"
    assert body["field"] == "name"


async def test_unexpected_exception_is_a_500_problem_without_traceback(http: AsyncClient) -> None:
    response = await http.get("/api/v1/probe/crash", headers={"X-Request-ID": "crash-1"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "crash-1"
    body = response.json()
    assert body.keys() >= PROBLEM_KEYS
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text


async def test_method_not_allowed_is_a_405_problem(http: AsyncClient) -> None:
    response = await http.delete("/health")
    assert response.status_code == 405
    assert response.json()["status"] == 405


async def test_request_id_is_echoed_when_valid_and_replaced_when_not(http: AsyncClient) -> None:
    ok = await http.get("/health", headers={"X-Request-ID": "abc-123.x"})
    assert ok.headers["x-request-id"] == "abc-123.x"
    bad = await http.get("/health", headers={"X-Request-ID": "has spaces and {braces}"})
    assert bad.headers["x-request-id"] != "has spaces and {braces}"
    assert len(bad.headers["x-request-id"]) == 32


async def test_openapi_docs_are_served_under_api(http: AsyncClient) -> None:
    assert (await http.get("/api/docs")).status_code == 200
    spec = (await http.get("/api/openapi.json")).json()
    assert "/ready" in spec["paths"]
    assert "/metrics" not in spec["paths"]


async def test_redis_down_mid_request_is_a_503_problem_not_a_500(settings: Settings) -> None:
    from aiwfe_stack.ports import free_ports

    (dead,) = free_ports(1)
    broken = Settings(
        env=settings.env, database_url=settings.database_url, redis_url=f"redis://127.0.0.1:{dead}/0"
    )
    app = create_app(broken)
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        response = await client.post(
            "/api/v1/auth/login", json={"email": "x@example.com", "password": "whatever it is 12"}
        )
    assert response.status_code == 503
    assert response.json()["type"].endswith("/dependency-unavailable")
    assert response.headers["retry-after"] == "5"


async def test_db_pool_exhausted_is_a_503_problem_not_a_500(settings: Settings) -> None:
    from sqlalchemy.exc import TimeoutError as PoolTimeoutError

    app = create_app(settings)

    async def busy() -> None:
        raise PoolTimeoutError("QueuePool limit of size 10 overflow 10 reached, connection timed out")

    app.add_api_route("/busy", busy)
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        response = await client.get("/busy")
    assert response.status_code == 503
    assert response.json()["type"].endswith("/dependency-unavailable")
    assert response.headers["retry-after"] == "5"
