"""``aiwfe create-admin``: a verified administrator, refusals with clear messages."""

from __future__ import annotations

import subprocess

from tests.auth.conftest import PASSWORD, Api, bearer, login_token
from tests.processes import process_env

from aiwfe.core.settings import Settings


def _create(
    aiwfe_bin: str, settings: Settings, email: str, password: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [aiwfe_bin, "create-admin", "--email", email, "--password-stdin"],
        input=password + "\n",
        env=process_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_create_admin_makes_a_verified_administrator(
    api: Api, aiwfe_bin: str, settings: Settings
) -> None:
    result = _create(aiwfe_bin, settings, "boss@example.com", PASSWORD)
    assert result.returncode == 0, result.stderr
    token = await login_token(api.http, "boss@example.com")
    me = (await api.http.get("/api/v1/me", headers=bearer(token))).json()
    assert me["role"] == "admin"
    assert me["email_verified"] is True


def test_create_admin_refuses_a_weak_password_and_a_bad_email(aiwfe_bin: str, settings: Settings) -> None:
    weak = _create(aiwfe_bin, settings, "boss2@example.com", "short")
    assert weak.returncode == 1
    assert "at least 12" in weak.stderr
    bad = _create(aiwfe_bin, settings, "not-an-email", PASSWORD)
    assert bad.returncode == 2
    assert "not an email" in bad.stderr
