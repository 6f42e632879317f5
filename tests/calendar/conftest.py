"""Helpers for calendar tests: signed-in callers, calendars and events made through the real API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient, Response
from tests.auth.conftest import Api, api, bearer, login_token, mark_verified, register  # noqa: F401  (api: a fixture)

from aiwfe.api.app import create_app
from aiwfe.core.settings import Settings


@dataclass
class Caller:
    """One signed-in user talking to the API with a bearer session."""

    http: AsyncClient
    headers: dict[str, str]

    async def get(self, url: str, **kwargs: Any) -> Response:
        return await self.http.get(url, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> Response:
        return await self.http.post(url, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs)

    async def put(self, url: str, **kwargs: Any) -> Response:
        return await self.http.put(url, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs)

    async def patch(self, url: str, **kwargs: Any) -> Response:
        return await self.http.patch(url, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs)

    async def delete(self, url: str, **kwargs: Any) -> Response:
        return await self.http.delete(url, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs)

    async def calendar(self, **fields: Any) -> dict[str, Any]:
        response = await self.post("/api/v1/calendars", json={"name": "Work", **fields})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def event(self, calendar_id: str, **fields: Any) -> dict[str, Any]:
        response = await self.post("/api/v1/events", json={"calendar_id": calendar_id, **fields})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def occurrences(self, start: str, end: str, **params: Any) -> list[dict[str, Any]]:
        """Every occurrence in the range, following the cursor through all pages."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            query = {"start": start, "end": end, **params}
            if cursor:
                query["cursor"] = cursor
            response = await self.get("/api/v1/events", params=query)
            assert response.status_code == 200, response.text
            page = response.json()
            items.extend(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                return items


async def sign_up(http: AsyncClient, email: str) -> Caller:
    await register(http, email)
    return Caller(http, bearer(await login_token(http, email)))


@pytest.fixture
async def alice(api: Api) -> Caller:  # noqa: F811
    caller = await sign_up(api.http, "alice@example.com")
    await mark_verified(api, "alice@example.com")
    return caller


@pytest.fixture
async def bob(api: Api) -> Caller:  # noqa: F811
    caller = await sign_up(api.http, "bob@example.com")
    await mark_verified(api, "bob@example.com")
    return caller


@pytest.fixture
async def small_inline_api(settings: Settings) -> AsyncIterator[AsyncClient]:
    """The app with a tiny inline-import threshold, so any upload becomes a worker job."""
    app = create_app(settings.model_copy(update={"calendar_import_inline_bytes": 512}))
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as http,
    ):
        yield http
