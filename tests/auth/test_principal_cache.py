"""The user cached beside the session: one Redis round trip per read, never stale after a change, never
another user's."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from httpx import AsyncClient
from sqlalchemy import update
from tests.auth.conftest import PASSWORD, Api, bearer, login_token, make_admin, register
from tests.conftest import app_client, recorded_statements

from aiwfe.api.app import create_app
from aiwfe.auth.deps import SAFE_METHODS, snapshot_writer
from aiwfe.auth.models import Role, User
from aiwfe.auth.sessions import KEY, PRINCIPAL_FIELD
from aiwfe.core.crypto import token_hash
from aiwfe.core.settings import Settings


async def _me(api: Api, token: str) -> dict[str, object]:
    response = await api.http.get("/api/v1/me", headers=bearer(token))
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def _signed_in_and_cached(api: Api, email: str) -> tuple[str, str]:
    """Register and sign in ``email``; read /me once so the snapshot is stored. Returns (user id, token)."""
    user = await register(api.http, email)
    token = await login_token(api.http, email)
    await _me(api, token)
    stored = await api.app.state.redis.hget(KEY + token_hash(token), PRINCIPAL_FIELD)
    assert stored is not None, "a read stores the user's snapshot beside the session"
    return str(user["id"]), token


async def _change_user(api: Api, user_id: str, **values: object) -> None:
    """Change the user through the ORM in one of the app's own sessions, as a service would."""
    async with api.app.state.sessionmaker() as db:
        user = await db.get(User, uuid.UUID(user_id))
        assert user is not None
        for name, value in values.items():
            setattr(user, name, value)
        await db.commit()


async def test_a_profile_change_is_seen_by_the_next_read(api: Api) -> None:
    _, token = await _signed_in_and_cached(api, "p1@example.com")
    patched = await api.http.patch("/api/v1/me", json={"display_name": "New Name"}, headers=bearer(token))
    assert patched.status_code == 200
    assert (await _me(api, token))["display_name"] == "New Name"


async def test_a_role_change_is_seen_by_the_next_read(api: Api) -> None:
    user_id, token = await _signed_in_and_cached(api, "p2@example.com")
    assert (await _me(api, token))["role"] == "user"
    await _change_user(api, user_id, role=Role.ADMIN)
    assert (await _me(api, token))["role"] == "admin"
    await _change_user(api, user_id, role=Role.USER)
    assert (await api.http.get("/api/v1/admin/users", headers=bearer(token))).status_code == 403


async def test_a_role_change_by_an_admin_ends_the_cached_session(api: Api, settings: Settings) -> None:
    await register(api.http, "root@example.com")
    await make_admin(settings, "root@example.com")
    admin = await login_token(api.http, "root@example.com")
    user_id, token = await _signed_in_and_cached(api, "p3@example.com")
    patched = await api.http.patch(
        f"/api/v1/admin/users/{user_id}", json={"role": "admin"}, headers=bearer(admin)
    )
    assert patched.status_code == 200
    assert (await api.http.get("/api/v1/me", headers=bearer(token))).status_code == 401
    again = await login_token(api.http, "p3@example.com")
    assert (await _me(api, again))["role"] == "admin"


async def test_deactivation_ends_a_cached_session_at_once(api: Api) -> None:
    user_id, token = await _signed_in_and_cached(api, "p4@example.com")
    await _change_user(api, user_id, is_active=False)  # even without the admin route's revocation
    assert (await api.http.get("/api/v1/me", headers=bearer(token))).status_code == 401


async def test_a_bulk_update_of_users_drops_every_snapshot(api: Api) -> None:
    user_id, token = await _signed_in_and_cached(api, "p5@example.com")
    async with api.app.state.sessionmaker() as db:
        await db.execute(update(User).where(User.id == uuid.UUID(user_id)).values(display_name="Bulk"))
        await db.commit()
    assert (await _me(api, token))["display_name"] == "Bulk"


async def test_a_password_change_replaces_the_cached_session(api: Api) -> None:
    _, token = await _signed_in_and_cached(api, "p6@example.com")
    new_password = "another horse battery staple 43"
    changed = await api.http.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": new_password},
        headers=bearer(token),
    )
    assert changed.status_code == 200, changed.text
    assert (await api.http.get("/api/v1/me", headers=bearer(token))).status_code == 401
    replacement = changed.json()["session_token"]
    assert (await _me(api, replacement))["email"] == "p6@example.com"


async def test_a_snapshot_of_another_user_is_never_served(api: Api) -> None:
    _, mallory = await _signed_in_and_cached(api, "mallory@example.com")
    _, alice = await _signed_in_and_cached(api, "alice@example.com")
    redis = api.app.state.redis
    theirs = await redis.hget(KEY + token_hash(alice), PRINCIPAL_FIELD)
    await redis.hset(KEY + token_hash(mallory), PRINCIPAL_FIELD, theirs)
    assert (await _me(api, mallory))["email"] == "mallory@example.com"


async def test_a_revoked_session_does_not_come_back_with_its_snapshot(api: Api) -> None:
    _, token = await _signed_in_and_cached(api, "p7@example.com")
    assert (await api.http.post("/api/v1/auth/logout", headers=bearer(token))).status_code in (200, 204)
    assert (await api.http.get("/api/v1/me", headers=bearer(token))).status_code == 401
    assert not await api.app.state.redis.exists(KEY + token_hash(token))


@pytest.fixture
async def second_replica(settings: Settings) -> AsyncIterator[AsyncClient]:
    async with app_client(settings) as http:
        yield http


async def test_a_change_on_one_replica_is_seen_by_another(api: Api, second_replica: AsyncClient) -> None:
    _, token = await _signed_in_and_cached(api, "p8@example.com")
    before = await second_replica.get("/api/v1/me", headers=bearer(token))
    assert before.json()["time_zone"] == "UTC"
    patched = await api.http.patch("/api/v1/me", json={"time_zone": "Europe/Berlin"}, headers=bearer(token))
    assert patched.status_code == 200
    after = await second_replica.get("/api/v1/me", headers=bearer(token))
    assert after.json()["time_zone"] == "Europe/Berlin"


def _uses_read_principal(dependant: Dependant) -> bool:
    return any(
        getattr(sub.call, "__qualname__", "") == "require_scope.<locals>.read" or _uses_read_principal(sub)
        for sub in dependant.dependencies
    )


def test_only_safe_routes_resolve_the_caller_without_the_request_session(settings: Settings) -> None:
    # The read dependency loads a user in a database session of its own: a change a handler made to that
    # user would never be saved, so an unsafe route using it would be a bug.
    routes = [c for c in iter_route_contexts(create_app(settings).routes) if isinstance(c.route, APIRoute)]
    readers = [c for c in routes if _uses_read_principal(c.route.dependant)]
    assert any(c.path == "/api/v1/me" for c in readers), "GET /me reads through the read dependency"
    unsafe = [(c.path, sorted(c.methods - SAFE_METHODS)) for c in readers if c.methods - SAFE_METHODS]
    assert unsafe == []


async def test_a_cached_read_opens_no_database_session(api: Api) -> None:
    _, token = await _signed_in_and_cached(api, "p9@example.com")
    opened: list[object] = []
    factory = api.app.state.sessionmaker

    def counting(*args: object, **kwargs: object) -> object:
        opened.append(args)
        return factory(*args, **kwargs)

    api.app.state.sessionmaker = counting
    try:
        assert (await _me(api, token))["email"] == "p9@example.com"
    finally:
        api.app.state.sessionmaker = factory
    assert opened == []


# ---- calendar writes resolve their caller from the snapshot too (auth.deps.snapshot_writer) ----------


async def _new_calendar(api: Api, headers: dict[str, str]) -> str:
    created = await api.http.post("/api/v1/calendars", json={"name": "Work"}, headers=headers)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _event(calendar_id: str) -> dict[str, object]:
    return {"calendar_id": calendar_id, "start": {"date_time": "2024-03-04T09:00:00Z"}}


async def test_a_cached_calendar_write_does_not_load_the_user(api: Api) -> None:
    _, token = await _signed_in_and_cached(api, "w1@example.com")
    calendar_id = await _new_calendar(api, bearer(token))
    with recorded_statements(api.app.state.engine) as statements:
        created = await api.http.post("/api/v1/events", json=_event(calendar_id), headers=bearer(token))
    assert created.status_code == 201, created.text
    assert any("calendar_events" in s for s in statements), "the write itself runs"
    assert not [s for s in statements if "FROM users" in s]


async def test_a_deactivated_user_cannot_write_through_a_cached_session(api: Api) -> None:
    user_id, token = await _signed_in_and_cached(api, "w2@example.com")
    calendar_id = await _new_calendar(api, bearer(token))
    await _change_user(api, user_id, is_active=False)
    refused = await api.http.post("/api/v1/events", json=_event(calendar_id), headers=bearer(token))
    assert refused.status_code == 401


async def test_a_cookie_write_needs_the_csrf_token_with_a_cached_snapshot(api: Api) -> None:
    await register(api.http, "w3@example.com")
    login = await api.http.post("/api/v1/auth/login", json={"email": "w3@example.com", "password": PASSWORD})
    csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
    assert (await api.http.get("/api/v1/me")).status_code == 200  # stores the snapshot
    calendar_id = await _new_calendar(api, csrf)
    missing = await api.http.post("/api/v1/events", json=_event(calendar_id))
    assert missing.status_code == 403
    assert missing.json()["type"].endswith("/csrf-failed")
    foreign = await api.http.post(
        "/api/v1/events", json=_event(calendar_id), headers={**csrf, "Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    assert (await api.http.post("/api/v1/events", json=_event(calendar_id), headers=csrf)).status_code == 201


def test_only_calendar_writes_resolve_their_caller_from_the_snapshot(settings: Settings) -> None:
    # A handler that changes the user (profile, password, roles) needs it loaded in the request's session:
    # the snapshot writer is for calendar writes, which read only the caller's id.
    routes = [c for c in iter_route_contexts(create_app(settings).routes) if isinstance(c.route, APIRoute)]
    writers = [
        c.path for c in routes if any(sub.call is snapshot_writer for sub in c.route.dependant.dependencies)
    ]
    assert "/api/v1/events" in writers
    assert [p for p in writers if not p.startswith(("/api/v1/events", "/api/v1/calendars"))] == []
