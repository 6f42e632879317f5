"""The ``aiwfe`` command: the runtime's own commands, and the local stack's that come in by entry point."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
import typer

from aiwfe.cli import PLUGIN_GROUP, add_plugins, own_commands

AIWFE = Path(sys.executable).with_name("aiwfe")
STACK_COMMANDS = {
    "up",
    "down",
    "status",
    "backup",
    "restore-drill",
    "validate",
    "dashboard-snapshot",
    "smtp-sink",
}


def test_help_lists_the_runtime_and_the_stack_commands() -> None:
    """As documented: `aiwfe up`, `aiwfe validate`, ... work from a checkout, next to `aiwfe api`."""
    result = subprocess.run([str(AIWFE), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    listed = {
        line.split()[1] for line in result.stdout.splitlines() if line.startswith("│ ") and line[2] != " "
    }
    assert STACK_COMMANDS | {"api", "worker", "beat", "migrate", "rotate-keys"} <= listed, listed


@pytest.mark.parametrize("command", ["api", "worker", "beat", "migrate", "rotate-keys", "worker-health"])
def test_the_runtimes_commands_never_import_the_stack(command: str) -> None:
    probe = (
        "import sys\nfrom aiwfe import cli\n"
        f"try:\n    cli.main([{command!r}, '--help'])\nexcept SystemExit:\n    pass\n"
        "print('loaded:', sorted(m for m in sys.modules if m.split('.')[0] == 'aiwfe_stack'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "loaded: []"


def test_own_commands_are_the_runtimes() -> None:
    assert {"api", "worker", "beat", "migrate", "rotate-keys", "create-admin"} <= own_commands()
    assert not own_commands() & STACK_COMMANDS


def test_a_plugin_whose_code_is_not_installed_is_left_out(tmp_path: Path) -> None:
    """The images: their metadata names aiwfe_stack, whose code is not in them."""
    app = typer.Typer()
    gone = EntryPoint(name="stack", value="aiwfe_stack_not_installed.cli:register", group=PLUGIN_GROUP)
    assert add_plugins(app, [gone]) == ["stack"]
    assert not app.registered_commands


def test_a_plugin_that_is_there_but_broken_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "aiwfe_broken_plugin.py").write_text("import aiwfe_missing_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    broken = EntryPoint(name="broken", value="aiwfe_broken_plugin:register", group=PLUGIN_GROUP)
    with pytest.raises(ModuleNotFoundError, match="aiwfe_missing_dependency"):
        add_plugins(typer.Typer(), [broken])


def test_the_stack_plugin_adds_its_commands() -> None:
    app = typer.Typer()
    plugin = EntryPoint(name="stack", value="aiwfe_stack.cli:register", group=PLUGIN_GROUP)
    assert add_plugins(app, [plugin]) == []
    names = {c.name or c.callback.__name__ for c in app.registered_commands if c.callback}
    assert {"up", "down", "status", "validate", "restore-drill"} <= names
