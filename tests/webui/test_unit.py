"""The web UI's own checks: Vitest unit tests and svelte-check (types, accessibility warnings)."""

from __future__ import annotations

import subprocess

import pytest
from tests.webui.build import WEBUI, install_dependencies, require_node


@pytest.fixture(scope="module")
def npm() -> str:
    npm = require_node()
    install_dependencies(npm)
    return npm


def _npm_run(npm: str, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [npm, "run", script], cwd=WEBUI, capture_output=True, text=True, timeout=300, check=False
    )


def test_unit_tests_pass(npm: str) -> None:
    result = _npm_run(npm, "test:unit")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]


def test_svelte_check_finds_no_error_or_warning(npm: str) -> None:
    result = _npm_run(npm, "check")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
