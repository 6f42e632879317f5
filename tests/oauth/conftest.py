"""Fixtures for oauth tests: a real OpenID Provider (the npm package ``oidc-provider``, in ``op/``) on free
loopback ports, the app configured to use it, a browser-less driver of its sign-in pages, and a worker
that knows the providers.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import cast
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from tests.auth.conftest import PASSWORD, register
from tests.processes import RunningProcess, process_env, stop, wait_for_key

from aiwfe.api.app import create_app
from aiwfe.core.clock import Clock
from aiwfe.core.heartbeat import heartbeat_key
from aiwfe.core.settings import Settings
from aiwfe_stack.ports import free_ports

OP_DIR = Path(__file__).resolve().parent / "op"
CLIENT_ID = "aiwfe"
CLIENT_SECRET = "aiwfe-test-client-secret"
OTHER_CLIENT_ID = "other-app"
OTHER_REDIRECT = "http://other.test/callback"
ACCESS_TOKEN_TTL = 60  # short: every connected account is due for refresh at once
PROVIDER_NAMES = ("op", "gh", "impostor", "down")


@dataclass
class OpenIdProvider:
    proc: subprocess.Popen[bytes]
    log: Path
    port: int
    other_port: int
    dead_port: int

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def other_issuer(self) -> str:
        return f"http://127.0.0.1:{self.other_port}"

    def rotate_keys(self) -> str:
        response = httpx.post(f"{self.issuer}/__test/rotate-keys", timeout=30)
        response.raise_for_status()
        kid: str = response.json()["kid"]
        return kid


def _npm_ci() -> None:
    """Install the OP's locked packages unless node_modules already matches package-lock.json."""
    installed = OP_DIR / "node_modules" / ".package-lock.json"
    lock = OP_DIR / "package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    if shutil.which("npm") is None:
        pytest.fail(
            "npm is missing: the OAuth tests run a real OpenID Provider on Node.js (apt-get install npm)"
        )
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=OP_DIR, check=True, timeout=600
    )


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the OpenID Provider exited:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"the OpenID Provider did not answer {url}:\n{log.read_text(errors='replace')}")


@pytest.fixture(scope="session")
def op(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenIdProvider]:
    _npm_ci()
    folder = tmp_path_factory.mktemp("op")
    port, other_port, dead_port = free_ports(3)
    callbacks = [f"http://testserver/api/v1/auth/oauth/{name}/callback" for name in PROVIDER_NAMES]
    config = {
        "host": "127.0.0.1",
        "ports": [port, other_port],
        "access_token_ttl": ACCESS_TOKEN_TTL,
        "clients": [
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": callbacks,
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
            },
            {
                "client_id": OTHER_CLIENT_ID,
                "client_secret": "other-secret",
                "redirect_uris": [OTHER_REDIRECT],
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
            },
        ],
    }
    (folder / "config.json").write_text(json.dumps(config))
    log = folder / "op.log"
    with log.open("wb") as handle:
        proc = subprocess.Popen(
            ["node", "server.mjs", str(folder / "config.json")],
            cwd=OP_DIR,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    running = OpenIdProvider(proc, log, port, other_port, dead_port)
    try:
        _wait_ready(f"{running.issuer}/.well-known/openid-configuration", proc, log)
        _wait_ready(f"{running.other_issuer}/.well-known/openid-configuration", proc, log)
        yield running
    finally:
        stop(proc)


def providers_json(op: OpenIdProvider) -> str:
    """The app's AIWFE_OAUTH_PROVIDERS for the test OP (and two broken providers)."""
    secret = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    return json.dumps(
        [
            {"name": "op", "kind": "oidc", "issuer": op.issuer, "display_name": "Test OP", **secret},
            {
                "name": "gh",
                "kind": "github",
                "authorize_url": f"{op.issuer}/auth",
                "token_url": f"{op.issuer}/token",
                "api_url": f"{op.issuer}/api",
                **secret,
            },
            # Discovery at this URL answers with the issuer spelled 127.0.0.1: not the one configured.
            {"name": "impostor", "kind": "oidc", "issuer": f"http://localhost:{op.port}", **secret},
            {"name": "down", "kind": "oidc", "issuer": f"http://127.0.0.1:{op.dead_port}", **secret},
        ]
    )


def with_providers(settings: Settings, op: OpenIdProvider, **changes: object) -> Settings:
    update: dict[str, object] = {
        "oauth_providers": SecretStr(providers_json(op)),
        "oauth_retry_backoff_seconds": 0.01,
        "oauth_http_timeout_seconds": 5.0,
        **changes,
    }
    return settings.model_copy(update=update)


@pytest.fixture
def oauth_settings(settings: Settings, op: OpenIdProvider) -> Settings:
    return with_providers(settings, op)


@dataclass
class Api:
    http: httpx.AsyncClient
    app: FastAPI

    @property
    def clock(self) -> Clock:
        clock: Clock = self.app.state.auth.clock
        return clock


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[Api]:
    """The real app over ASGI with ``settings`` (lifespan run)."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http,
    ):
        yield Api(http, app)


@pytest.fixture
async def api(oauth_settings: Settings) -> AsyncIterator[Api]:
    """The real app, configured with the test OP."""
    async with running_app(oauth_settings) as running:
        yield running


@pytest.fixture
async def browser() -> AsyncIterator[httpx.AsyncClient]:
    """The user's browser at the OP: keeps the OP's cookies, follows nothing by itself."""
    async with httpx.AsyncClient(follow_redirects=False, timeout=30) as http:
        yield http


async def authorize(browser: httpx.AsyncClient, url: str, login: str, *, deny: bool = False) -> str:
    """Walk the OP's pages like a person: sign in as ``login`` and consent (or cancel, with ``deny``).

    Returns where the OP finally redirects, off the OP: the client's callback URL with code and state.
    """
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
    for _ in range(20):
        response = await browser.get(url)
        if response.is_redirect:
            url = urljoin(url, response.headers["location"])
            if not url.startswith(origin):
                return url
            continue
        match = re.search(r'name="prompt" value="(\w+)"', response.text)
        if response.status_code != 200 or match is None:
            raise AssertionError(f"unexpected OP page {response.status_code} at {url}: {response.text[:800]}")
        if deny:
            url = f"{url}/abort"
            continue
        prompt = match.group(1)
        form = (
            {"prompt": "login", "login": login, "password": "any"}
            if prompt == "login"
            else {"prompt": prompt}
        )
        submitted = await browser.post(url, data=form)
        assert submitted.is_redirect, submitted.text[:800]
        url = urljoin(url, submitted.headers["location"])
    raise AssertionError("the OP kept redirecting")


def query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


async def start(api: Api, provider: str = "op", next_path: str = "/") -> str:
    """Start a sign-in; returns the provider's authorization URL (the binding cookie stays in ``api``)."""
    response = await api.http.get(f"/api/v1/auth/oauth/{provider}/login", params={"next": next_path})
    assert response.status_code == 302, response.text
    return response.headers["location"]


async def sign_in(
    api: Api, browser: httpx.AsyncClient, login: str, provider: str = "op", next_path: str = "/"
) -> httpx.Response:
    """The whole browser-less sign-in; returns the app's answer to the callback."""
    callback = await authorize(browser, await start(api, provider, next_path), login)
    return await api.http.get(callback)


async def link(api: Api, browser: httpx.AsyncClient, login: str, provider: str = "op") -> httpx.Response:
    """Link a provider account to the signed-in (cookie) session of ``api``."""
    csrf = api.http.cookies.get("aiwfe_csrf") or ""
    response = await api.http.post(f"/api/v1/me/oauth/{provider}/link", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 200, response.text
    callback = await authorize(browser, response.json()["authorization_url"], login)
    return await api.http.get(callback)


async def password_session(api: Api, email: str) -> None:
    """Register ``email`` with a password, verify it, and sign in with it (cookie session in ``api``)."""
    await register(api.http, email)
    async with api.app.state.engine.begin() as conn:
        await conn.execute(
            text("UPDATE users SET email_verified_at = now() WHERE lower(email) = lower(:e)"), {"e": email}
        )
    response = await api.http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text


async def sql(settings: Settings, statement: str, **params: object) -> list[tuple[object, ...]]:
    """Run one SQL statement on the test database, committed; returns its rows."""
    engine = create_async_engine(settings.database_url.get_secret_value())
    async with engine.begin() as conn:
        result = await conn.execute(text(statement), params)
        rows = [tuple(r) for r in result.all()] if result.returns_rows else []
    await engine.dispose()
    return rows


async def audit_events(settings: Settings, event: str) -> list[tuple[str, dict[str, object]]]:
    """(outcome, details) of each audit event named ``event``, oldest first."""
    rows = await sql(
        settings, "SELECT outcome, details FROM audit_events WHERE event = :e ORDER BY id", e=event
    )
    return [(str(outcome), cast(dict[str, object], details)) for outcome, details in rows]


def broker_url(settings: Settings) -> str:
    """A Redis database of its own for the oauth worker's queue, so no other test worker takes its tasks."""
    return re.sub(r"/\d+$", "", settings.redis_url.get_secret_value()) + "/3"


@pytest.fixture(scope="session")
def oauth_worker(
    aiwfe_bin: str, base_settings: Settings, op: OpenIdProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningProcess]:
    """A real Celery worker that knows the test providers, on its own broker database."""
    folder = tmp_path_factory.mktemp("oauth-worker")
    name = "celery@oauth-test-worker"
    env = process_env(
        base_settings,
        AIWFE_OAUTH_PROVIDERS=providers_json(op),
        AIWFE_BROKER_URL=broker_url(base_settings),
        AIWFE_WORKER_METRICS_PORT="0",
        AIWFE_WORKER_NAME=name,
        AIWFE_SMTP_PORT=str(base_settings.smtp_port),
        AIWFE_PUBLIC_URL="http://testserver",
    )
    log = folder / "worker.log"
    with log.open("wb") as handle:
        proc = subprocess.Popen([aiwfe_bin, "worker"], env=env, stdout=handle, stderr=subprocess.STDOUT)
    try:
        wait_for_key(base_settings, heartbeat_key("worker", name))
        yield RunningProcess(proc, log, env, 0, name)
    finally:
        stop(proc)
