"""aiwfe_stack.paths.project_root: the checkout the stack reads caddy/, compose/ and monitoring/ from."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiwfe_stack.paths import NotACheckout, project_root

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    project_root.cache_clear()
    yield
    project_root.cache_clear()


def test_a_checkout_is_found_from_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIWFE_PROJECT_ROOT", raising=False)
    assert project_root() == ROOT
    assert (project_root() / "caddy" / "Caddyfile").is_file()


def test_outside_a_checkout_it_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The package as a wheel in site-packages: no caddy/ or compose/ above it."""
    monkeypatch.delenv("AIWFE_PROJECT_ROOT", raising=False)
    copy = tmp_path / "site-packages" / "aiwfe_stack" / "paths.py"
    copy.parent.mkdir(parents=True)
    shutil.copy(ROOT / "src" / "aiwfe_stack" / "paths.py", copy)
    spec = importlib.util.spec_from_file_location("paths_outside_a_checkout", copy)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(module.NotACheckout, match="not inside a checkout of the aiwfe repository"):
        module.project_root()


def test_the_override_must_be_a_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIWFE_PROJECT_ROOT", str(tmp_path))
    with pytest.raises(NotACheckout, match="is not an aiwfe checkout"):
        project_root()
    monkeypatch.setenv("AIWFE_PROJECT_ROOT", str(ROOT))
    project_root.cache_clear()
    assert project_root() == ROOT
