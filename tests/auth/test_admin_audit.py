"""Administration (list, search, role, deactivate) and the append-only audit log."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from tests.auth.conftest import Api, bearer, login_token, make_admin, mark_verified, register
from tests.processes import RunningProcess

from aiwfe.auth.tasks import PURGE_AUDIT
from aiwfe.core.settings import Settings
from aiwfe.worker.app import create_celery


async def _admin(api: Api, settings: Settings) -> str:
    await register(api.http, "root@example.com")
    await make_admin(settings, "root@example.com")
    return await login_token(api.http, "root@example.com")


async def test_only_admins_reach_admin_routes(api: Api) -> None:
    await register(api.http, "a1@example.com")
    user = await login_token(api.http, "a1@example.com")
    assert (await api.http.get("/api/v1/admin/users", headers=bearer(user))).status_code == 403


async def test_admin_lists_and_searches_users(api: Api, settings: Settings) -> None:
    admin = await _admin(api, settings)
    await register(api.http, "zebra@example.com", display_name="Zed")
    everyone = (await api.http.get("/api/v1/admin/users", headers=bearer(admin))).json()
    assert everyone["total"] == 2
    found = (await api.http.get("/api/v1/admin/users", params={"q": "zeb"}, headers=bearer(admin))).json()
    assert [u["email"] for u in found["items"]] == ["zebra@example.com"]
    wildcard = (await api.http.get("/api/v1/admin/users", params={"q": "%"}, headers=bearer(admin))).json()
    assert wildcard["total"] == 0


async def test_deactivation_revokes_sessions_and_tokens_at_once(api: Api, settings: Settings) -> None:
    admin = await _admin(api, settings)
    user = await register(api.http, "a2@example.com")
    await mark_verified(api, "a2@example.com")
    session = await login_token(api.http, "a2@example.com")
    pat = (
        await api.http.post(
            "/api/v1/me/tokens", json={"name": "t", "scopes": ["read"]}, headers=bearer(session)
        )
    ).json()["token"]
    patched = await api.http.patch(
        f"/api/v1/admin/users/{user['id']}", json={"is_active": False}, headers=bearer(admin)
    )
    assert patched.status_code == 200
    assert patched.json()["is_active"] is False
    for credential in (session, pat):
        assert (await api.http.get("/api/v1/me", headers=bearer(credential))).status_code == 401
    login = await api.http.post("/api/v1/auth/login", json={"email": "a2@example.com", "password": "x" * 12})
    assert login.status_code == 401


async def test_role_change_is_audited_and_admins_cannot_demote_themselves(
    api: Api, settings: Settings
) -> None:
    admin = await _admin(api, settings)
    me = (await api.http.get("/api/v1/me", headers=bearer(admin))).json()
    self_demote = await api.http.patch(
        f"/api/v1/admin/users/{me['id']}", json={"role": "user"}, headers=bearer(admin)
    )
    assert self_demote.status_code == 403
    user = await register(api.http, "a3@example.com")
    promoted = await api.http.patch(
        f"/api/v1/admin/users/{user['id']}", json={"role": "admin"}, headers=bearer(admin)
    )
    assert promoted.json()["role"] == "admin"
    events = (await api.http.get("/api/v1/admin/audit", headers=bearer(admin))).json()
    change = next(e for e in events if e["event"] == "role_changed")
    assert change["details"] == {"old": "user", "new": "admin"}
    assert change["actor_id"] == me["id"]


async def test_users_read_only_their_own_audit_events(api: Api) -> None:
    await register(api.http, "a4@example.com")
    await register(api.http, "a5@example.com")
    await api.http.post(
        "/api/v1/auth/login", json={"email": "a4@example.com", "password": "wrong password 1"}
    )
    mine = await login_token(api.http, "a4@example.com")
    events = (await api.http.get("/api/v1/me/audit", headers=bearer(mine))).json()
    kinds = [(e["event"], e["outcome"]) for e in events]
    assert ("login", "failed") in kinds
    assert ("login", "ok") in kinds
    assert ("register", "ok") in kinds
    assert {e["user_id"] for e in events} == {events[0]["user_id"]}


async def test_the_audit_log_refuses_updates(api: Api, settings: Settings) -> None:
    await register(api.http, "a6@example.com")
    engine = create_async_engine(settings.database_url.get_secret_value())
    try:
        async with engine.begin() as conn:
            with pytest.raises(DBAPIError, match="append-only"):
                await conn.execute(text("UPDATE audit_events SET outcome = 'forged'"))
    finally:
        await engine.dispose()


async def test_the_retention_task_deletes_only_events_older_than_the_setting(
    api: Api, settings: Settings, worker: RunningProcess
) -> None:
    await register(api.http, "a7@example.com")
    engine = create_async_engine(settings.database_url.get_secret_value())
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO audit_events (event, outcome, details, created_at) "
                    "VALUES ('login', 'ok', '{}', now() - make_interval(days => :d))"
                ),
                {"d": settings.audit_retention_days + 1},
            )
        removed = create_celery(settings).send_task(PURGE_AUDIT).get(timeout=30)
        assert removed == 1
        async with engine.connect() as conn:
            left = (await conn.execute(text("SELECT event FROM audit_events"))).scalars().all()
        assert left == ["register"]
    finally:
        await engine.dispose()
    assert "purge-audit-log" in create_celery(settings).conf.beat_schedule
