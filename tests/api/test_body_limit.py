"""Request bodies over the API's limit are refused with a 413 problem, declared or streamed; ICS uploads
have their own, larger limit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from httpx import ASGITransport, AsyncClient, Response

from aiwfe.api.app import create_app
from aiwfe.core.settings import Settings

LIMIT = 4096


@pytest.fixture
async def http(settings: Settings) -> AsyncIterator[AsyncClient]:
    app = create_app(
        settings.model_copy(update={"api_max_body_bytes": LIMIT, "calendar_import_max_bytes": 65536})
    )
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as client,
    ):
        yield client


def _assert_413(response: Response) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("/payload-too-large")
    assert f"larger than {LIMIT} bytes" in problem["detail"]


def _json(size: int) -> bytes:
    return b'{"email": "' + b"a" * size + b'@example.com", "password": "x"}'


async def test_a_declared_body_over_the_limit_is_a_413_problem(http: AsyncClient) -> None:
    _assert_413(
        await http.post(
            "/api/v1/auth/register", content=_json(LIMIT), headers={"Content-Type": "application/json"}
        )
    )


async def test_a_streamed_body_over_the_limit_is_a_413_problem(http: AsyncClient) -> None:
    body = _json(LIMIT)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    response = await http.post(
        "/api/v1/auth/register", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    _assert_413(response)


async def test_a_body_within_the_limit_reaches_the_route(http: AsyncClient) -> None:
    response = await http.post(
        "/api/v1/auth/register", content=_json(10), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422  # the route's own validation: the address is not valid


async def test_an_ics_upload_has_its_own_larger_limit(http: AsyncClient) -> None:
    url = "/api/v1/calendars/00000000-0000-0000-0000-000000000000/import"
    within = await http.post(url, content=b"x" * (4 * LIMIT), headers={"Content-Type": "text/calendar"})
    assert within.status_code == 401  # past the body limit; the route wants a signed-in caller
    over = await http.post(url, content=b"x" * 70000, headers={"Content-Type": "text/calendar"})
    assert over.status_code == 413
