"""Registration, sign-in, cookies and CSRF, fixation, enumeration, lockout, rate limits, sessions."""

from __future__ import annotations

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from tests.auth.conftest import PASSWORD, Api, bearer, login_token, register

from aiwfe.api.app import create_app
from aiwfe.core.settings import RegistrationMode, Settings


async def test_register_creates_an_unverified_user_and_a_duplicate_email_creates_none(
    api: Api, settings: Settings
) -> None:
    user = await register(api.http, "Ann@Example.com", display_name="Ann", time_zone="Europe/Berlin")
    assert user["email"] == "Ann@example.com"  # the domain is normalised
    assert user["email_verified"] is False
    assert user["role"] == "user"
    again = await api.http.post(
        "/api/v1/auth/register", json={"email": "ann@example.COM", "password": PASSWORD}
    )
    assert again.status_code == 201  # answered like a new account: no enumeration
    assert again.json()["id"] != user["id"]
    engine = create_async_engine(settings.database_url.get_secret_value())
    async with engine.connect() as conn:
        count = await conn.scalar(text("SELECT count(*) FROM users WHERE lower(email) = 'ann@example.com'"))
    await engine.dispose()
    assert count == 1


async def test_register_refuses_weak_passwords_and_bad_fields(api: Api) -> None:
    weak = await api.http.post(
        "/api/v1/auth/register", json={"email": "b@example.com", "password": "q1w2e3r4t5y6"}
    )
    assert weak.status_code == 422
    assert weak.json()["type"].endswith("/weak-password")
    bad_zone = await api.http.post(
        "/api/v1/auth/register",
        json={"email": "b@example.com", "password": PASSWORD, "time_zone": "Mars/Base"},
    )
    assert bad_zone.status_code == 422
    assert "time_zone" in bad_zone.json()["detail"]
    huge = await api.http.post(
        "/api/v1/auth/register",
        json={"email": "b@example.com", "password": PASSWORD, "display_name": "x" * 500},
    )
    assert huge.status_code == 422
    assert "display_name" in huge.json()["detail"]
    not_email = await api.http.post("/api/v1/auth/register", json={"email": "nope", "password": PASSWORD})
    assert not_email.status_code == 422


async def test_closed_registration_is_refused(settings: Settings) -> None:
    closed = Settings(**{**settings.model_dump(), "registration_mode": RegistrationMode.CLOSED})
    app = create_app(closed)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as c,
    ):
        response = await c.post(
            "/api/v1/auth/register", json={"email": "c@example.com", "password": PASSWORD}
        )
    assert response.status_code == 403
    assert response.json()["type"].endswith("/registration-closed")


async def test_cookie_login_sets_httponly_lax_session_and_a_readable_csrf_cookie(api: Api) -> None:
    await register(api.http, "d@example.com")
    response = await api.http.post(
        "/api/v1/auth/login", json={"email": "d@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("aiwfe_session="))
    csrf = next(c for c in cookies if c.startswith("aiwfe_csrf="))
    assert "HttpOnly" in session
    assert "SameSite=lax" in session
    assert "HttpOnly" not in csrf
    assert "session_token" not in response.json()
    assert (await api.http.get("/api/v1/me")).json()["email"] == "d@example.com"


async def test_unknown_email_and_wrong_password_answer_alike(api: Api) -> None:
    await register(api.http, "e@example.com")
    wrong = await api.http.post(
        "/api/v1/auth/login", json={"email": "e@example.com", "password": "not it at all!"}
    )
    unknown = await api.http.post(
        "/api/v1/auth/login", json={"email": "nobody@example.com", "password": PASSWORD}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_login_issues_a_new_session_and_revokes_the_one_presented(api: Api) -> None:
    await register(api.http, "f@example.com")
    await api.http.post("/api/v1/auth/login", json={"email": "f@example.com", "password": PASSWORD})
    first = api.http.cookies["aiwfe_session"]
    await api.http.post("/api/v1/auth/login", json={"email": "f@example.com", "password": PASSWORD})
    second = api.http.cookies["aiwfe_session"]
    assert first != second
    stale = await api.http.get("/api/v1/me", headers=bearer(first))  # bearer wins over the cookie
    assert stale.status_code == 401


async def test_cookie_writes_need_the_csrf_token_and_a_matching_origin(api: Api) -> None:
    await register(api.http, "g@example.com")
    login = await api.http.post("/api/v1/auth/login", json={"email": "g@example.com", "password": PASSWORD})
    csrf = login.json()["csrf_token"]
    missing = await api.http.patch("/api/v1/me", json={"display_name": "G"})
    assert missing.status_code == 403
    assert missing.json()["type"].endswith("/csrf-failed")
    wrong = await api.http.patch("/api/v1/me", json={"display_name": "G"}, headers={"X-CSRF-Token": "forged"})
    assert wrong.status_code == 403
    foreign = await api.http.patch(
        "/api/v1/me",
        json={"display_name": "G"},
        headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    ok = await api.http.patch(
        "/api/v1/me",
        json={"display_name": "G"},
        headers={"X-CSRF-Token": csrf, "Origin": "http://testserver"},
    )
    assert ok.status_code == 200
    assert ok.json()["display_name"] == "G"


async def test_bearer_requests_are_exempt_from_csrf(api: Api) -> None:
    await register(api.http, "h@example.com")
    token = await login_token(api.http, "h@example.com")
    response = await api.http.patch("/api/v1/me", json={"time_zone": "Asia/Tokyo"}, headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["time_zone"] == "Asia/Tokyo"


@pytest.mark.usefixtures("instant")
async def test_failed_logins_lock_the_account_for_growing_periods(api: Api, settings: Settings) -> None:
    await register(api.http, "i@example.com")
    bad = {"email": "i@example.com", "password": "wrong password here"}
    for _ in range(settings.lockout_threshold):
        assert (await api.http.post("/api/v1/auth/login", json=bad)).status_code == 401
    locked = await api.http.post("/api/v1/auth/login", json={"email": "i@example.com", "password": PASSWORD})
    assert locked.status_code == 429
    first_wait = int(locked.headers["retry-after"])
    assert 0 < first_wait <= settings.lockout_base_seconds

    api.clock.advance(settings.lockout_base_seconds + 1)
    assert (await api.http.post("/api/v1/auth/login", json=bad)).status_code == 401  # one more failure
    again = await api.http.post("/api/v1/auth/login", json={"email": "i@example.com", "password": PASSWORD})
    assert again.status_code == 429
    assert int(again.headers["retry-after"]) > settings.lockout_base_seconds  # doubled

    api.clock.advance(2 * settings.lockout_base_seconds + 1)
    ok = await api.http.post("/api/v1/auth/login", json={"email": "i@example.com", "password": PASSWORD})
    assert ok.status_code == 200


async def test_unknown_accounts_lock_like_real_ones(api: Api, settings: Settings) -> None:
    bad = {"email": "ghost@example.com", "password": "wrong password here"}
    for _ in range(settings.lockout_threshold):
        assert (await api.http.post("/api/v1/auth/login", json=bad)).status_code == 401
    assert (await api.http.post("/api/v1/auth/login", json=bad)).status_code == 429


async def test_login_is_rate_limited_per_ip_with_retry_after(settings: Settings) -> None:
    tight = Settings(**{**settings.model_dump(), "login_rate_per_ip": "3/minute", "lockout_threshold": 100})
    app = create_app(tight)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as c,
    ):
        codes = [
            (
                await c.post("/api/v1/auth/login", json={"email": f"u{i}@example.com", "password": PASSWORD})
            ).status_code
            for i in range(4)
        ]
        last = await c.post("/api/v1/auth/login", json={"email": "u9@example.com", "password": PASSWORD})
    assert codes[:3] == [401, 401, 401]
    assert codes[3] == 429
    assert int(last.headers["retry-after"]) >= 1


async def test_sessions_are_listed_with_the_current_one_marked_and_can_be_revoked(api: Api) -> None:
    await register(api.http, "j@example.com")
    one = await login_token(api.http, "j@example.com")
    two = await login_token(api.http, "j@example.com")
    three = await login_token(api.http, "j@example.com")
    listed = (await api.http.get("/api/v1/me/sessions", headers=bearer(one))).json()
    assert len(listed) == 3
    assert [s["current"] for s in listed].count(True) == 1
    victim = next(s["id"] for s in listed if not s["current"])
    assert (await api.http.delete(f"/api/v1/me/sessions/{victim}", headers=bearer(one))).status_code == 204
    assert len((await api.http.get("/api/v1/me/sessions", headers=bearer(one))).json()) == 2
    revoked = await api.http.post("/api/v1/me/sessions/revoke-others", headers=bearer(one))
    assert revoked.json() == {"revoked": 1}
    for token in (two, three):
        assert (await api.http.get("/api/v1/me", headers=bearer(token))).status_code == 401
    assert (await api.http.get("/api/v1/me", headers=bearer(one))).status_code == 200


async def test_a_user_cannot_revoke_another_users_session(api: Api) -> None:
    await register(api.http, "k@example.com")
    await register(api.http, "l@example.com")
    k = await login_token(api.http, "k@example.com")
    l_token = await login_token(api.http, "l@example.com")
    l_session = (await api.http.get("/api/v1/me/sessions", headers=bearer(l_token))).json()[0]["id"]
    assert (await api.http.delete(f"/api/v1/me/sessions/{l_session}", headers=bearer(k))).status_code == 404
    assert (await api.http.get("/api/v1/me", headers=bearer(l_token))).status_code == 200


async def test_logout_ends_the_session(api: Api) -> None:
    await register(api.http, "m@example.com")
    token = await login_token(api.http, "m@example.com")
    assert (await api.http.post("/api/v1/auth/logout", headers=bearer(token))).status_code == 204
    assert (await api.http.get("/api/v1/me", headers=bearer(token))).status_code == 401


async def test_password_change_revokes_other_sessions_and_replaces_the_current_one(api: Api) -> None:
    await register(api.http, "n@example.com")
    current = await login_token(api.http, "n@example.com")
    other = await login_token(api.http, "n@example.com")
    new_password = "a brand new passphrase 77"
    response = await api.http.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": new_password},
        headers=bearer(current),
    )
    assert response.status_code == 200
    replacement = response.json()["session_token"]
    assert replacement != current
    for stale in (current, other):
        assert (await api.http.get("/api/v1/me", headers=bearer(stale))).status_code == 401
    assert (await api.http.get("/api/v1/me", headers=bearer(replacement))).status_code == 200
    assert await login_token(api.http, "n@example.com", new_password)


async def test_a_weak_new_password_names_the_new_password_field(api: Api) -> None:
    await register(api.http, "w@example.com")
    token = await login_token(api.http, "w@example.com")
    response = await api.http.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "short"},
        headers=bearer(token),
    )
    assert response.status_code == 422
    assert response.json()["type"].endswith("/weak-password")
    assert response.json()["field"] == "new_password"


async def test_wrong_current_password_changes_nothing(api: Api) -> None:
    await register(api.http, "o@example.com")
    token = await login_token(api.http, "o@example.com")
    response = await api.http.post(
        "/api/v1/me/password",
        json={"current_password": "not my password", "new_password": "another good phrase 9"},
        headers=bearer(token),
    )
    assert response.status_code == 401
    assert await login_token(api.http, "o@example.com", PASSWORD)


async def test_requests_without_credentials_get_401_problem(api: Api) -> None:
    response = await api.http.get("/api/v1/me")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    garbage = await api.http.get("/api/v1/me", headers={"Authorization": "Basic abc"})
    assert garbage.status_code == 401
