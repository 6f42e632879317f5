"""TOTP enrolment, the second sign-in step, replay refusal, recovery codes, disabling."""

from __future__ import annotations

import pyotp
import pytest
from tests.auth.conftest import PASSWORD, Api, bearer, login_token, register


async def _enrol(api: Api, email: str) -> tuple[str, str, list[str]]:
    await register(api.http, email)
    token = await login_token(api.http, email)
    setup = await api.http.post("/api/v1/me/totp/setup", headers=bearer(token))
    assert setup.status_code == 200
    body = setup.json()
    assert body["otpauth_uri"].startswith("otpauth://totp/aiwfe:")
    assert body["qr_svg"].lstrip().startswith("<svg")
    secret = body["secret"]
    code = pyotp.TOTP(secret).at(api.clock())
    confirm = await api.http.post("/api/v1/me/totp/confirm", json={"code": code}, headers=bearer(token))
    assert confirm.status_code == 200
    codes = confirm.json()["recovery_codes"]
    assert len(codes) == 10
    assert len(set(codes)) == 10
    return token, secret, codes


async def _password_step(api: Api, email: str) -> str:
    response = await api.http.post(
        "/api/v1/auth/login", json={"email": email, "password": PASSWORD, "mode": "token"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["mfa_required"] is True
    assert "session_token" not in body
    mfa_token: str = body["mfa_token"]
    return mfa_token


@pytest.mark.usefixtures("instant")
async def test_sign_in_needs_the_code_after_the_password(api: Api) -> None:
    _, secret, _ = await _enrol(api, "t1@example.com")
    api.clock.advance(60)  # the enrolment code's time step is spent
    mfa_token = await _password_step(api, "t1@example.com")
    wrong = await api.http.post(
        "/api/v1/auth/login/mfa", json={"mfa_token": mfa_token, "code": "000000", "mode": "token"}
    )
    assert wrong.status_code == 401
    assert wrong.json()["type"].endswith("/invalid-mfa-code")
    assert wrong.json()["field"] == "code"
    code = pyotp.TOTP(secret).at(api.clock())
    ok = await api.http.post(
        "/api/v1/auth/login/mfa", json={"mfa_token": mfa_token, "code": code, "mode": "token"}
    )
    assert ok.status_code == 200
    session = ok.json()["session_token"]
    listed = (await api.http.get("/api/v1/me/sessions", headers=bearer(session))).json()
    assert next(s for s in listed if s["current"])["mfa"] is True


@pytest.mark.usefixtures("instant")
async def test_a_code_is_accepted_once_only(api: Api) -> None:
    _, secret, _ = await _enrol(api, "t2@example.com")
    api.clock.advance(60)
    code = pyotp.TOTP(secret).at(api.clock())
    first = await _password_step(api, "t2@example.com")
    ok = await api.http.post("/api/v1/auth/login/mfa", json={"mfa_token": first, "code": code})
    assert ok.status_code == 200
    second = await _password_step(api, "t2@example.com")
    replay = await api.http.post("/api/v1/auth/login/mfa", json={"mfa_token": second, "code": code})
    assert replay.status_code == 401
    assert replay.json()["type"].endswith("/invalid-mfa-code")
    assert replay.json()["field"] == "code"


async def test_a_recovery_code_works_once(api: Api) -> None:
    _, _, codes = await _enrol(api, "t3@example.com")
    first = await _password_step(api, "t3@example.com")
    ok = await api.http.post(
        "/api/v1/auth/login/mfa", json={"mfa_token": first, "recovery_code": codes[0].upper()}
    )
    assert ok.status_code == 200
    second = await _password_step(api, "t3@example.com")
    again = await api.http.post(
        "/api/v1/auth/login/mfa", json={"mfa_token": second, "recovery_code": codes[0]}
    )
    assert again.status_code == 401
    assert again.json()["field"] == "recovery_code"


async def test_a_wrong_enrolment_code_names_the_code_field(api: Api) -> None:
    await register(api.http, "t5@example.com")
    token = await login_token(api.http, "t5@example.com")
    setup = await api.http.post("/api/v1/me/totp/setup", headers=bearer(token))
    assert setup.status_code == 200
    secret = setup.json()["secret"]
    wrong = str((int(pyotp.TOTP(secret).at(api.clock())) + 1) % 1_000_000).zfill(6)
    response = await api.http.post("/api/v1/me/totp/confirm", json={"code": wrong}, headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["type"].endswith("/invalid-mfa-code")
    assert response.json()["field"] == "code"


async def test_disabling_needs_the_password_and_a_code(api: Api) -> None:
    token, secret, _ = await _enrol(api, "t4@example.com")
    api.clock.advance(60)
    code = pyotp.TOTP(secret).at(api.clock())
    wrong_pw = await api.http.post(
        "/api/v1/me/totp/disable", json={"password": "not the password", "code": code}, headers=bearer(token)
    )
    assert wrong_pw.status_code == 401
    ok = await api.http.post(
        "/api/v1/me/totp/disable", json={"password": PASSWORD, "code": code}, headers=bearer(token)
    )
    assert ok.status_code == 204
    plain = await api.http.post("/api/v1/auth/login", json={"email": "t4@example.com", "password": PASSWORD})
    assert plain.json().get("mfa_required") is not True


async def test_an_unknown_mfa_step_is_refused(api: Api) -> None:
    response = await api.http.post("/api/v1/auth/login/mfa", json={"mfa_token": "y" * 43, "code": "123456"})
    assert response.status_code == 400
