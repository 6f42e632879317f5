"""Personal access tokens: shown once, hashed, scoped, expiring, revocable, private to their owner."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from tests.auth.conftest import Api, bearer, login_token, mark_verified, register

from aiwfe.core.settings import Settings


async def _token(api: Api, session: str, scopes: list[str], **extra: str) -> dict[str, str]:
    response = await api.http.post(
        "/api/v1/me/tokens", json={"name": "ci", "scopes": scopes, **extra}, headers=bearer(session)
    )
    assert response.status_code == 201, response.text
    body: dict[str, str] = response.json()
    return body


async def test_a_token_is_shown_once_and_stored_only_as_a_hash(api: Api, settings: Settings) -> None:
    await register(api.http, "p1@example.com")
    await mark_verified(api, "p1@example.com")
    session = await login_token(api.http, "p1@example.com")
    created = await _token(api, session, ["read"])
    assert created["token"].startswith("aiwfe_pat_")
    listed = (await api.http.get("/api/v1/me/tokens", headers=bearer(session))).json()
    assert "token" not in listed[0]
    engine = create_async_engine(settings.database_url.get_secret_value())
    async with engine.connect() as conn:
        stored = (await conn.execute(text("SELECT token_hash FROM access_tokens"))).scalar_one()
    await engine.dispose()
    assert created["token"] not in stored
    assert len(stored) == 64


async def test_scopes_limit_what_a_token_may_do_and_use_is_recorded(api: Api) -> None:
    await register(api.http, "p2@example.com")
    await mark_verified(api, "p2@example.com")
    session = await login_token(api.http, "p2@example.com")
    read_only = (await _token(api, session, ["read"]))["token"]
    assert (await api.http.get("/api/v1/me", headers=bearer(read_only))).status_code == 200
    write = await api.http.patch("/api/v1/me", json={"display_name": "x"}, headers=bearer(read_only))
    assert write.status_code == 403
    listed = (await api.http.get("/api/v1/me/tokens", headers=bearer(session))).json()
    assert listed[0]["last_used_at"] is not None
    admin = await api.http.post(
        "/api/v1/me/tokens", json={"name": "x", "scopes": ["admin"]}, headers=bearer(session)
    )
    assert admin.status_code == 403


@pytest.mark.usefixtures("instant")
async def test_revoked_and_expired_tokens_stop_working(api: Api) -> None:
    await register(api.http, "p3@example.com")
    await mark_verified(api, "p3@example.com")
    session = await login_token(api.http, "p3@example.com")
    created = await _token(api, session, ["read", "write"])
    soon = (datetime.fromtimestamp(api.clock(), UTC) + timedelta(hours=1)).isoformat()
    expiring = (await _token(api, session, ["read"], expires_at=soon))["token"]
    assert (
        await api.http.delete(f"/api/v1/me/tokens/{created['id']}", headers=bearer(session))
    ).status_code == 204
    assert (await api.http.get("/api/v1/me", headers=bearer(created["token"]))).status_code == 401
    assert (await api.http.get("/api/v1/me", headers=bearer(expiring))).status_code == 200
    api.clock.advance(3601)
    assert (await api.http.get("/api/v1/me", headers=bearer(expiring))).status_code == 401


async def test_a_user_cannot_see_or_revoke_another_users_token(api: Api) -> None:
    await register(api.http, "p4@example.com")
    await mark_verified(api, "p4@example.com")
    await register(api.http, "p5@example.com")
    await mark_verified(api, "p5@example.com")
    owner = await login_token(api.http, "p4@example.com")
    other = await login_token(api.http, "p5@example.com")
    created = await _token(api, owner, ["read"])
    assert (await api.http.get("/api/v1/me/tokens", headers=bearer(other))).json() == []
    stolen = await api.http.delete(f"/api/v1/me/tokens/{created['id']}", headers=bearer(other))
    assert stolen.status_code == 404
    assert (await api.http.get("/api/v1/me", headers=bearer(created["token"]))).status_code == 200


async def test_bad_token_requests_are_422(api: Api) -> None:
    await register(api.http, "p6@example.com")
    await mark_verified(api, "p6@example.com")
    session = await login_token(api.http, "p6@example.com")
    no_scope = await api.http.post(
        "/api/v1/me/tokens", json={"name": "x", "scopes": []}, headers=bearer(session)
    )
    assert no_scope.status_code == 422
    bad_scope = await api.http.post(
        "/api/v1/me/tokens", json={"name": "x", "scopes": ["root"]}, headers=bearer(session)
    )
    assert bad_scope.status_code == 422
    bad_id = await api.http.delete("/api/v1/me/tokens/not-a-uuid", headers=bearer(session))
    assert bad_id.status_code == 422
    await asyncio.sleep(0)
