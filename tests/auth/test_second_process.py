"""Against a second, real API process: revocation is seen at once, and no secret reaches its logs."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.auth.conftest import PASSWORD, Api, bearer, register
from tests.processes import process_env, stop

from aiwfe.core.settings import Settings
from aiwfe_stack.ports import free_ports


@pytest.fixture
def second_api(aiwfe_bin: str, settings: Settings, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    (port,) = free_ports(1)
    log = tmp_path / "api.log"
    env = process_env(
        settings, AIWFE_ARGON2_TIME_COST="1", AIWFE_ARGON2_MEMORY_KIB="8192", AIWFE_ARGON2_PARALLELISM="1"
    )
    with log.open("wb") as handle:
        proc = subprocess.Popen(
            [aiwfe_bin, "api", "--port", str(port)], env=env, stdout=handle, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    try:
        yield base, log
    finally:
        stop(proc)


async def test_a_session_revoked_on_one_replica_fails_at_once_on_another(
    api: Api, second_api: tuple[str, Path]
) -> None:
    base, log = second_api
    await register(api.http, "x1@example.com")
    async with httpx.AsyncClient(base_url=base, timeout=10) as other:
        login = await other.post(
            "/api/v1/auth/login", json={"email": "x1@example.com", "password": PASSWORD, "mode": "token"}
        )
        assert login.status_code == 200
        token = login.json()["session_token"]
        assert (await other.get("/api/v1/me", headers=bearer(token))).status_code == 200
        assert (await api.http.post("/api/v1/auth/logout", headers=bearer(token))).status_code == 204
        assert (await other.get("/api/v1/me", headers=bearer(token))).status_code == 401

    text = log.read_text()
    assert PASSWORD not in text
    assert token not in text
    assert '"route": "/api/v1/auth/login"' in text
