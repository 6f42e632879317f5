"""The web UI in Debian's Chromium against the whole local stack (Playwright specs in webui/tests/e2e).

The stack starts in a temp folder on free ports, serving the UI build; the specs read the mail the
API sends from the stack's SMTP sink folder.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.stacks import running_stack
from tests.webui.build import WEBUI, build_webui, require_node

from aiwfe.ops.stack import Stack
from aiwfe.ops.system import Requirement, ensure_installed

pytestmark = pytest.mark.stack

CHROMIUM = Requirement("chromium", "chromium")
ADMIN_EMAIL = "ada.admin@example.com"
ADMIN_PASSWORD = "correct horse battery staple admin"


@pytest.fixture(scope="module")
def webui() -> Path:
    require_node()
    ensure_installed((CHROMIUM,))
    return build_webui()


@pytest.fixture(scope="module")
def stack(system_packages: None, webui: Path) -> Iterator[Stack]:
    with running_stack("aiwfe-test-webui-", webui_root=webui) as running:
        yield running


def _create_admin(stack: Stack, aiwfe_bin: str) -> None:
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


def test_playwright_specs_pass_against_the_stack(stack: Stack, aiwfe_bin: str) -> None:
    _create_admin(stack, aiwfe_bin)
    env = {
        **os.environ,
        "AIWFE_E2E_BASE_URL": f"http://localhost:{stack.settings.http_port}",
        "AIWFE_E2E_MAIL_DIR": str(stack.paths.mail),
        "AIWFE_E2E_ADMIN_EMAIL": ADMIN_EMAIL,
        "AIWFE_E2E_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "CI": "1",
    }
    result = subprocess.run(
        ["npx", "--no-install", "playwright", "test"],
        cwd=WEBUI,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-4000:]
