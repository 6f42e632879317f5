"""Email verification and password reset, mailed by the real worker through a real SMTP server."""

from __future__ import annotations

import pytest
from tests.auth.conftest import PASSWORD, Api, bearer, link_token, login_token, register, wait_for_mail
from tests.processes import RunningProcess

from aiwfe.core.settings import Settings
from aiwfe_stack.servers.smtp_sink import SmtpSink


async def test_registration_mails_a_single_use_verification_link(
    api: Api, worker: RunningProcess, smtp_sink: SmtpSink
) -> None:
    await register(api.http, "v1@example.com")
    token = link_token(wait_for_mail(smtp_sink, "v1@example.com", "Confirm your email address"))
    verified = await api.http.post("/api/v1/auth/verify-email", json={"token": token})
    assert verified.status_code == 200
    assert verified.json()["email_verified"] is True
    again = await api.http.post("/api/v1/auth/verify-email", json={"token": token})
    assert again.status_code == 400
    assert "already used" in again.json()["detail"]


async def test_the_worker_log_never_holds_a_mailed_link(
    api: Api, worker: RunningProcess, smtp_sink: SmtpSink
) -> None:
    await register(api.http, "logged@example.com")
    token = link_token(wait_for_mail(smtp_sink, "logged@example.com", "Confirm your email address"))
    log = worker.log.read_text()
    assert "logged@example.com" in log  # the task's other arguments are still logged
    assert token not in log


@pytest.mark.usefixtures("instant")
async def test_an_expired_verification_link_is_refused(
    api: Api, worker: RunningProcess, smtp_sink: SmtpSink, settings: Settings
) -> None:
    await register(api.http, "v2@example.com")
    token = link_token(wait_for_mail(smtp_sink, "v2@example.com", "Confirm your email address"))
    api.clock.advance(settings.verify_token_hours * 3600 + 1)
    response = await api.http.post("/api/v1/auth/verify-email", json={"token": token})
    assert response.status_code == 400
    assert "expired" in response.json()["detail"]


async def test_a_forged_token_is_refused(api: Api) -> None:
    response = await api.http.post("/api/v1/auth/verify-email", json={"token": "x" * 43})
    assert response.status_code == 400
    assert response.json()["type"].endswith("/bad-token")


async def test_reset_request_answers_alike_for_unknown_addresses_and_sends_nothing(
    api: Api, worker: RunningProcess, smtp_sink: SmtpSink
) -> None:
    await register(api.http, "r1@example.com")
    known = await api.http.post("/api/v1/auth/password-reset/request", json={"email": "r1@example.com"})
    unknown = await api.http.post("/api/v1/auth/password-reset/request", json={"email": "ghost@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    wait_for_mail(smtp_sink, "r1@example.com", "Reset your password")
    assert not [m for m in smtp_sink.messages() if m["To"] == "ghost@example.com"]


async def test_password_reset_sets_the_new_password_once_and_revokes_sessions(
    api: Api, worker: RunningProcess, smtp_sink: SmtpSink
) -> None:
    await register(api.http, "r2@example.com")
    old_session = await login_token(api.http, "r2@example.com")
    await api.http.post("/api/v1/auth/password-reset/request", json={"email": "r2@example.com"})
    token = link_token(wait_for_mail(smtp_sink, "r2@example.com", "Reset your password"))
    new_password = "fresh start passphrase 31"
    weak = await api.http.post("/api/v1/auth/password-reset", json={"token": token, "new_password": "short"})
    assert weak.status_code == 422
    assert weak.json()["type"].endswith("/weak-password")
    assert weak.json()["field"] == "new_password"
    done = await api.http.post(
        "/api/v1/auth/password-reset", json={"token": token, "new_password": new_password}
    )
    assert done.status_code == 204
    assert (await api.http.get("/api/v1/me", headers=bearer(old_session))).status_code == 401
    old = await api.http.post("/api/v1/auth/login", json={"email": "r2@example.com", "password": PASSWORD})
    assert old.status_code == 401
    assert await login_token(api.http, "r2@example.com", new_password)
    reused = await api.http.post(
        "/api/v1/auth/password-reset", json={"token": token, "new_password": "yet another one 55"}
    )
    assert reused.status_code == 400
