"""Build the web UI for the tests: `npm ci` when dependencies are missing, `npm run build` when stale."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from aiwfe_stack.paths import project_root

WEBUI = project_root() / "webui"
BUILD = WEBUI / "build"
SOURCES = ("src", "static", "package.json", "package-lock.json", "svelte.config.js", "vite.config.ts")


def require_node() -> str:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip("node and npm (Node.js >= 20.19) are needed for the web UI tests")
    return npm


def _newest(path: Path) -> float:
    if path.is_file():
        return path.stat().st_mtime
    return max((p.stat().st_mtime for p in path.rglob("*") if p.is_file()), default=0.0)


def _run(args: list[str], timeout: float) -> None:
    result = subprocess.run(args, cwd=WEBUI, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, (
        f"{' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )


def install_dependencies(npm: str) -> None:
    """`npm ci` when node_modules is missing or older than the lock file."""
    marker = WEBUI / "node_modules" / ".package-lock.json"
    lock = WEBUI / "package-lock.json"
    if not marker.exists() or marker.stat().st_mtime < lock.stat().st_mtime:
        _run([npm, "ci", "--no-audit", "--no-fund"], timeout=600)


def build_webui() -> Path:
    """The static build, rebuilt when any source is newer than it."""
    npm = require_node()
    install_dependencies(npm)
    index = BUILD / "index.html"
    sources = max(_newest(WEBUI / name) for name in SOURCES if (WEBUI / name).exists())
    if not index.exists() or index.stat().st_mtime < sources:
        _run([npm, "run", "build"], timeout=600)
    assert index.exists()
    return BUILD
