"""The web UI in Debian's Chromium against the whole local stack (Playwright specs in webui/tests/e2e).

The stack starts in a temp folder on free ports, serving the UI build; the specs read the mail the
API sends from the stack's SMTP sink folder, and sign in through a real OpenID Provider (the
``oidc-provider`` of tests/oauth/op) configured as the stack's provider "Test OP".
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.oauth.conftest import CLIENT_ID, CLIENT_SECRET, OP_DIR, _npm_ci, _wait_ready
from tests.processes import stop
from tests.stacks import running_stack
from tests.webui.build import WEBUI, build_webui, require_node

from aiwfe_stack.ports import free_ports
from aiwfe_stack.stack import Stack
from aiwfe_stack.system import Requirement, ensure_installed

pytestmark = pytest.mark.stack

CHROMIUM = Requirement("chromium", "chromium")
ADMIN_EMAIL = "ada.admin@example.com"
ADMIN_PASSWORD = "correct horse battery staple admin"


@pytest.fixture(scope="module")
def webui() -> Path:
    require_node()
    ensure_installed((CHROMIUM,))
    return build_webui()


@dataclass
class Provider:
    """The OpenID Provider the stack signs in with, and the stack's http port it redirects back to."""

    issuer: str
    http_port: int


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    _npm_ci()
    # The stack's port is chosen first: the provider only redirects to callbacks registered up front.
    op_port, other_port, http_port = free_ports(3)
    callback = f"http://localhost:{http_port}/api/v1/auth/oauth/op/callback"
    config = {
        "host": "127.0.0.1",
        "ports": [op_port, other_port],
        "access_token_ttl": 3600,
        "clients": [
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [callback],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
            }
        ],
    }
    folder = tmp_path_factory.mktemp("webui-op")
    (folder / "config.json").write_text(json.dumps(config))
    log = folder / "op.log"
    with log.open("wb") as handle:
        proc = subprocess.Popen(
            ["node", "server.mjs", str(folder / "config.json")],
            cwd=OP_DIR,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    issuer = f"http://127.0.0.1:{op_port}"
    try:
        _wait_ready(f"{issuer}/.well-known/openid-configuration", proc, log)
        yield Provider(issuer, http_port)
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def stack(system_packages: None, webui: Path, provider: Provider) -> Iterator[Stack]:
    providers = [
        {
            "name": "op",
            "kind": "oidc",
            "issuer": provider.issuer,
            "display_name": "Test OP",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }
    ]
    app_env = {
        "AIWFE_OAUTH_PROVIDERS": json.dumps(providers),
        # The browser uses the http site; the provider's redirect and the landing page stay on it.
        "AIWFE_PUBLIC_URL": f"http://localhost:{provider.http_port}",
        # The specs subscribe one calendar to another's feed on this stack, and reminders.spec.ts's webhook
        # receiver listens there too: loopback addresses.
        "AIWFE_OUTBOUND_ALLOW_NETWORKS": "127.0.0.1/32,::1/128",
        # Every spec registers its accounts from this one address, and the dated ones run again at other
        # instants: more than the default 10 registrations an hour.
        "AIWFE_REGISTER_RATE_PER_IP": "100/hour",
        # reminders.spec.ts waits for real reminders: a scan every few seconds.
        "AIWFE_REMINDERS_SCAN_SECONDS": "5",
    }
    with running_stack(
        "aiwfe-test-webui-", webui_root=webui, http_port=provider.http_port, extra_app_env=app_env
    ) as running:
        yield running


# The browser's clock for the specs (webui/tests/e2e/clock.ts): every spec runs at the first instant, the
# date-dependent ones (tagged @dated) again at the others, on the same stack. First, the run that went red
# (issue #19): Monday 00:30 in the browser's Berlin, still Sunday in UTC, the zone the specs run in. Then a
# Sunday that is the spring DST change, and New Year's Eve late at night (next Monday is next year).
# AIWFE_E2E_NOW replaces the first, to try another instant.
INSTANTS = ("2026-12-07T00:30:00+01:00", "2027-03-28T10:00:00+02:00", "2027-12-31T23:30:00+01:00")
NOW = os.environ.get("AIWFE_E2E_NOW") or INSTANTS[0]


@pytest.fixture(scope="module")
def admin(stack: Stack, aiwfe_bin: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIWFE_")}
    result = subprocess.run(
        [
            aiwfe_bin,
            "create-admin",
            "--email",
            ADMIN_EMAIL,
            "--display-name",
            "Ada Admin",
            "--password-stdin",
        ],
        input=ADMIN_PASSWORD + "\n",
        env={**env, **stack.app_env()},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _playwright(stack: Stack, now: str, *args: str) -> None:
    env = {
        **os.environ,
        "AIWFE_E2E_BASE_URL": f"http://localhost:{stack.settings.http_port}",
        "AIWFE_E2E_MAIL_DIR": str(stack.paths.mail),
        "AIWFE_E2E_ADMIN_EMAIL": ADMIN_EMAIL,
        "AIWFE_E2E_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "AIWFE_E2E_NOW": now,
        "CI": "1",
    }
    result = subprocess.run(
        ["npx", "--no-install", "playwright", "test", *args],
        cwd=WEBUI,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-4000:]


# Thirteen specs in one Chromium against a whole stack on a shared machine: longer than the suite's default.
@pytest.mark.timeout(900)
def test_playwright_specs_pass_against_the_stack(stack: Stack, admin: None) -> None:
    _playwright(stack, NOW)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("now", INSTANTS[1:])
def test_date_dependent_specs_pass_at_other_instants(stack: Stack, admin: None, now: str) -> None:
    _playwright(stack, now, "--grep", "@dated")
