"""`make up` and the backup path as an ordinary (non-root) user, as most people develop.

PostgreSQL then runs as that user instead of ``postgres``, and pgBackRest still has to log in as the
``postgres`` role over the unix socket. Run by a normal user, the test runs the stack as itself. Run as
root (CI), it creates a throwaway system user and runs a fresh copy of the project as that user, as a
clone in their home would (root's own virtualenv and checkout may sit under a 0700 /root), then
removes both. Cheap on purpose: one API replica, no monitoring, a restore without the full drill.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
from tests.stacks import stack_env, stack_settings

from aiwfe_stack.ports import free_ports
from aiwfe_stack.stack import Stack

pytestmark = [pytest.mark.stack, pytest.mark.timeout(900)]

PROJECT = Path(__file__).resolve().parents[2]
# What `aiwfe up` reads from a checkout: the package, the Caddyfile, Redis persistence and monitoring
# configs (the web UI falls back to caddy/placeholder).
PROJECT_FILES = ("src", "caddy", "compose", "monitoring", "pyproject.toml", "uv.lock", "README.md")
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"


@dataclass
class OrdinaryUser:
    """Who runs the stack, and with which `aiwfe`: ``prefix`` is ``runuser -u NAME --`` when we are root."""

    uid: int
    venv_bin: Path
    prefix: list[str] = field(default_factory=list)
    path: str = field(default_factory=lambda: os.environ.get("PATH", SYSTEM_PATH))

    def run(self, env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.prefix, *args],
            env={**env, "PATH": f"{self.venv_bin}:{self.path}"},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd="/",
        )

    def aiwfe(
        self, env: dict[str, str], *args: str, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return self.run(env, str(self.venv_bin / "aiwfe"), *args, timeout=timeout)


def _uv() -> str:
    local = PROJECT / ".aiwfe" / "tools" / "bin" / "uv"  # where `make` bootstraps it
    found = str(local) if local.exists() else shutil.which("uv")
    assert found, "uv not found: run `make .venv/.synced` first (it bootstraps .aiwfe/tools/bin/uv)"
    return found


def _python_for(name: str) -> str:
    """An interpreter the user can run: ours unless it sits somewhere they cannot enter, else Debian's."""
    ours = str(Path(sys.executable).resolve())
    debian = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
    for candidate in (ours, debian):
        if candidate is None:
            continue
        probe = subprocess.run(
            [
                "runuser",
                "-u",
                name,
                "--",
                candidate,
                "-c",
                "import sys; sys.exit(sys.version_info < (3, 11))",
            ],
            capture_output=True,
            check=False,
            cwd="/",
        )
        if probe.returncode == 0:
            return candidate
    raise AssertionError(f"no Python >= 3.11 that {name} may run (tried {ours} and {debian})")


def _leftover_processes(uid: int) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["uids"]):
        uids = proc.info["uids"]
        if uids is not None and uids.real == uid:
            found.append(proc)
    return found


@pytest.fixture
def ordinary_user(system_packages: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrdinaryUser]:
    if os.geteuid() != 0:
        yield OrdinaryUser(os.geteuid(), Path(sys.executable).parent)
        return
    name = f"aiwfe-t{secrets.token_hex(4)}"
    work = Path(tempfile.mkdtemp(prefix="aiwfe-test-nonroot-"))
    work.chmod(0o755)
    home = work / "home"
    subprocess.run(
        [
            "useradd",
            "--system",
            "--user-group",
            "--home-dir",
            str(home),
            "--shell",
            "/usr/sbin/nologin",
            name,
        ],
        check=True,
        capture_output=True,
    )
    try:
        home.mkdir()
        shutil.chown(home, name, name)
        project = work / "aiwfe"
        project.mkdir()
        for item in PROJECT_FILES:
            source = PROJECT / item
            if source.is_dir():
                shutil.copytree(source, project / item, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, project / item)
        # Built by root from its uv cache (no downloads); the user only needs to read it. The runtime and
        # the group `stack` (supervisord, Caddy, the SMTP sink): what `aiwfe up` runs, no test tools.
        subprocess.run(
            [
                _uv(),
                "sync",
                "--frozen",
                "--no-default-groups",
                "--group",
                "stack",
                "--python",
                _python_for(name),
                "-q",
            ],
            cwd=project,
            env={
                **{k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"},
                "UV_PYTHON_DOWNLOADS": "never",
            },
            check=True,
            capture_output=True,
            timeout=600,
        )
        yield OrdinaryUser(
            int(subprocess.run(["id", "-u", name], capture_output=True, text=True, check=True).stdout),
            project / ".venv" / "bin",
            ["runuser", "-u", name, "--"],
            SYSTEM_PATH,
        )
    finally:
        uid_text = subprocess.run(["id", "-u", name], capture_output=True, text=True, check=False).stdout
        if uid_text.strip().isdigit():
            # Only what this test's user left behind (the stack is stopped before this runs).
            for proc in _leftover_processes(int(uid_text)):
                proc.send_signal(signal.SIGKILL)
            psutil.wait_procs(_leftover_processes(int(uid_text)), timeout=30)
        subprocess.run(["userdel", name], check=False, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def test_make_up_and_backups_work_for_an_ordinary_user(ordinary_user: OrdinaryUser) -> None:
    assert ordinary_user.uid != 0
    root = Path(tempfile.mkdtemp(prefix="aiwfe-test-nonroot-stack-"))
    if ordinary_user.prefix:
        shutil.chown(root, ordinary_user.uid, ordinary_user.uid)
    (api_port,) = free_ports(1)
    settings = stack_settings(root, api_ports=[api_port])
    env = stack_env(settings)
    stack = Stack(settings)
    try:
        up = ordinary_user.aiwfe(env, "up")
        assert up.returncode == 0, f"aiwfe up failed:\n{up.stdout}\n{up.stderr}"
        assert "aiwfe is running" in up.stdout

        status, body = stack.ready_report()
        assert (status, body["status"]) == (200, "ok"), body
        assert stat.S_IMODE(root.stat().st_mode) == 0o700  # other accounts cannot read logs or data
        postmaster = int((stack.paths.pgdata / "postmaster.pid").read_text().split()[0])
        assert psutil.Process(postmaster).uids().real == ordinary_user.uid  # not postgres, not root

        backup = ordinary_user.aiwfe(env, "backup", "now")
        assert backup.returncode == 0, f"aiwfe backup now failed:\n{backup.stdout}\n{backup.stderr}"
        # pgBackRest waits until the backup's WAL is archived, so archive-push as the user works too.
        # (Not stack.backups() here: as root it would run pgBackRest as postgres, not as the user.)
        assert re.search(r"backup \d{8}-\d{6}F \(full", backup.stdout), backup.stdout

        # The restore half without the drill's scratch server: pgBackRest writes a complete data folder.
        target = root / "restored"
        restore = ordinary_user.run(
            env,
            "python",
            "-c",
            "import sys; from pathlib import Path; from aiwfe_stack.stack import Stack; "
            "Stack().backups().restore(Path(sys.argv[1]))",
            str(target),
        )
        assert restore.returncode == 0, f"restore failed:\n{restore.stderr[-2000:]}"
        assert (target / "PG_VERSION").read_text() == (stack.paths.pgdata / "PG_VERSION").read_text()
        assert (target / "backup_label").exists()
        assert target.stat().st_uid == ordinary_user.uid
    finally:
        down = ordinary_user.aiwfe(env, "down", timeout=240)
        shutil.rmtree(root, ignore_errors=True)
    assert down.returncode == 0, down.stdout + down.stderr
