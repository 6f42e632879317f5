"""Account pre-hijacking: nothing lasting before the address is verified, a password reset by email link
ends every kind of access, no account enumeration through registration or the reset request."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from tests.auth.conftest import (
    PASSWORD,
    Api,
    bearer,
    link_token,
    login_token,
    mark_verified,
    register,
    wait_for_mail,
)
from tests.processes import RunningProcess

from aiwfe.core.settings import Settings
from aiwfe_stack.servers.smtp_sink import SmtpSink

NEW_PASSWORD = "the owner takes it back 77"


async def _sql(api: Api, statement: str, **params: object) -> list[Any]:
    async with api.app.state.engine.begin() as conn:
        result = await conn.execute(text(statement), params)
        return list(result.all()) if result.returns_rows else []


async def _calendar(api: Api, session: str) -> str:
    created = await api.http.post("/api/v1/calendars", json={"name": "Home"}, headers=bearer(session))
    assert created.status_code == 201, created.text
    calendar_id: str = created.json()["id"]
    return calendar_id


async def test_an_unverified_account_can_set_up_nothing_that_outlives_a_reset(api: Api) -> None:
    await register(api.http, "squatter@example.com")
    session = await login_token(api.http, "squatter@example.com")
    calendar_id = await _calendar(api, session)
    attempts = {
        "token": await api.http.post(
            "/api/v1/me/tokens", json={"name": "t", "scopes": ["read"]}, headers=bearer(session)
        ),
        "link": await api.http.post("/api/v1/me/oauth/github/link", headers=bearer(session)),
        "webhook": await api.http.post(
            "/api/v1/reminders/webhook", json={"url": "https://93.184.215.14/hook"}, headers=bearer(session)
        ),
        "feed": await api.http.put(f"/api/v1/calendars/{calendar_id}/feed", headers=bearer(session)),
    }
    for name, response in attempts.items():
        assert response.status_code == 403, (name, response.text)
        problem = response.json()
        assert problem["type"].endswith("/email-not-verified"), name
        assert problem["detail"].startswith("verify your email first"), name
    assert await _sql(api, "SELECT count(*) FROM access_tokens") == [(0,)]
    assert await _sql(api, "SELECT count(*) FROM reminder_webhooks") == [(0,)]

    await mark_verified(api, "squatter@example.com")
    token = await api.http.post(
        "/api/v1/me/tokens", json={"name": "t", "scopes": ["read"]}, headers=bearer(session)
    )
    assert token.status_code == 201, token.text


async def test_a_reset_by_email_link_ends_every_session_token_link_webhook_and_feed(
    api: Api, worker: RunningProcess, smtp_sink: SmtpSink, settings: Settings
) -> None:
    email = "victim@example.com"
    user = await register(api.http, email)
    await mark_verified(api, email)
    session = await login_token(api.http, email)
    pat = await api.http.post(
        "/api/v1/me/tokens", json={"name": "sync script", "scopes": ["read"]}, headers=bearer(session)
    )
    assert pat.status_code == 201, pat.text
    hook = await api.http.post(
        "/api/v1/reminders/webhook", json={"url": "https://93.184.215.14/hook"}, headers=bearer(session)
    )
    assert hook.status_code == 200, hook.text
    calendar_id = await _calendar(api, session)
    feed = (await api.http.put(f"/api/v1/calendars/{calendar_id}/feed", headers=bearer(session))).json()
    feed_path = feed["url"].removeprefix("http://testserver")
    assert (await api.http.get(feed_path)).status_code == 200
    # One identity linked while the address was unverified (the squatter's), one linked after.
    for subject, unverified in (("squatter-id", True), ("owner-id", False)):
        await _sql(
            api,
            "INSERT INTO oauth_accounts (id, user_id, provider, subject, email, email_verified, display_name,"
            " status, scopes, linked_unverified) VALUES (:id, :user, 'github', :subject, :email, true, '',"
            " 'active', '{}', :unverified)",
            id=uuid.uuid4(),
            user=uuid.UUID(str(user["id"])),
            subject=subject,
            email=f"{subject}@example.net",
            unverified=unverified,
        )

    await api.http.post("/api/v1/auth/password-reset/request", json={"email": email})
    reset = link_token(wait_for_mail(smtp_sink, email, "Reset your password"))
    done = await api.http.post(
        "/api/v1/auth/password-reset", json={"token": reset, "new_password": NEW_PASSWORD}
    )
    assert done.status_code == 204, done.text

    assert (await api.http.get("/api/v1/me", headers=bearer(session))).status_code == 401
    assert (await api.http.get("/api/v1/me", headers=bearer(pat.json()["token"]))).status_code == 401
    assert (await api.http.get(feed_path)).status_code == 404
    fresh = await login_token(api.http, email, NEW_PASSWORD)
    assert (await api.http.get("/api/v1/reminders/webhook", headers=bearer(fresh))).json()["url"] is None
    calendar = (await api.http.get(f"/api/v1/calendars/{calendar_id}", headers=bearer(fresh))).json()
    assert calendar["feed_enabled"] is False
    assert await _sql(api, "SELECT subject FROM oauth_accounts") == [("owner-id",)]

    audit = (await api.http.get("/api/v1/me/audit", headers=bearer(fresh))).json()
    removed = next(e for e in audit if e["event"] == "password_reset")["details"]["removed"]
    assert removed == {
        "access_tokens": ["sync script"],
        "identity_links": ["github (squatter-id@example.net)"],
        "webhook": True,
        "feeds": ["Home"],
    }
    mail = wait_for_mail(smtp_sink, email, "Your password was reset").get_content()
    for listed in ("sync script", "github (squatter-id@example.net)", "Home", "reminder webhook: removed"):
        assert listed in mail


async def test_registering_a_taken_address_answers_like_a_new_one_and_mails_the_owner(
    api: Api, worker: RunningProcess, smtp_sink: SmtpSink
) -> None:
    new = await api.http.post(
        "/api/v1/auth/register", json={"email": "first@example.com", "password": PASSWORD}
    )
    taken = await api.http.post(
        "/api/v1/auth/register", json={"email": "first@example.com", "password": "another passphrase 91"}
    )
    assert new.status_code == taken.status_code == 201
    assert new.headers["content-type"] == taken.headers["content-type"]
    shape = {k: v for k, v in new.json().items() if k not in ("id", "created_at")}
    assert {k: v for k, v in taken.json().items() if k not in ("id", "created_at")} == shape
    wait_for_mail(smtp_sink, "first@example.com", "Confirm your email address")
    notice = wait_for_mail(smtp_sink, "first@example.com", "Your aiwfe account").get_content()
    assert "already has one" in notice
    # The squatter's password does not open the account.
    wrong = await api.http.post(
        "/api/v1/auth/login", json={"email": "first@example.com", "password": "another passphrase 91"}
    )
    assert wrong.status_code == 401


async def test_the_reset_request_does_the_same_work_for_known_and_unknown_addresses(api: Api) -> None:
    """The request only queues a task (the worker looks the address up), so nothing it does depends on
    whether the account exists: no token, no audit row, the same answer."""
    await register(api.http, "known@example.com")
    counts = "SELECT (SELECT count(*) FROM email_tokens), (SELECT count(*) FROM audit_events)"
    before = await _sql(api, counts)
    known = await api.http.post("/api/v1/auth/password-reset/request", json={"email": "known@example.com"})
    unknown = await api.http.post("/api/v1/auth/password-reset/request", json={"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    after = await _sql(api, counts)
    assert after == before
