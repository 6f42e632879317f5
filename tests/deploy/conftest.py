"""Tools the deployment-kit tests run, once per session: promtool and amtool from Debian, and the Go-built
tools of scripts/tools/go-tools.sh (helm, kubeconform, kube-score, actionlint, OpenTofu and its providers).

A cold Go build takes minutes of CPU: when the session has tests that need it, it starts in the background
at collection (niced, so it takes only the CPU the other tests leave), and those tests run last.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from aiwfe_stack.system import Requirement, ensure_installed

GO_TOOLS = Path(__file__).resolve().parents[2] / "scripts" / "tools" / "go-tools.sh"
PREBUILD = pytest.StashKey["subprocess.Popen[bytes]"]()

PROMETHEUS_TOOLS = (
    Requirement("promtool", "prometheus"),
    Requirement("amtool", "prometheus-alertmanager"),
    Requirement("prometheus-alertmanager", "prometheus-alertmanager"),
)
# Debian starts a package's daemons on install; these would bind 9090/9093/9100 next to the local stack.
SERVICES = {
    "prometheus": ("prometheus", "prometheus-node-exporter"),
    "prometheus-alertmanager": ("prometheus-alertmanager",),
}
POLICY_RC = Path("/usr/sbin/policy-rc.d")


@contextmanager
def _daemons_not_started() -> Iterator[bool]:
    """Deny service starts during apt-get (invoke-rc.d honours policy-rc.d); yields whether it could."""
    if POLICY_RC.exists():
        # Already there (a container image usually denies everything): keep whatever it says.
        yield POLICY_RC.read_text().strip().endswith("exit 101")
        return
    if os.geteuid() != 0:
        yield False
        return
    POLICY_RC.write_text("#!/bin/sh\n# written by tests/deploy for one apt-get run\nexit 101\n")
    POLICY_RC.chmod(0o755)
    try:
        yield True
    finally:
        POLICY_RC.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def prometheus_tools() -> dict[str, str]:
    """Paths of promtool, amtool and alertmanager; installs them without leaving their daemons running."""
    with _daemons_not_started() as denied:
        installed = sorted(set(ensure_installed(PROMETHEUS_TOOLS)))
    if installed and not denied and shutil.which("service"):
        prefix = [] if os.geteuid() == 0 else ["sudo"]
        for service in (name for package in installed for name in SERVICES.get(package, ())):
            subprocess.run(
                [*prefix, "service", service, "stop"], capture_output=True, check=False, timeout=60
            )
    tools = {req.program: shutil.which(req.program) for req in PROMETHEUS_TOOLS}
    missing = [name for name, path in tools.items() if path is None]
    assert not missing, f"{', '.join(missing)} not found after installing {PROMETHEUS_TOOLS}"
    return {name: str(path) for name, path in tools.items()}


@pytest.hookimpl(trylast=True)  # after -k/-m deselection: no build for deselected tests
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Moves the tests that need the Go tools to the end and starts their build, so it overlaps the rest."""
    needing = [item for item in items if "go_tools" in getattr(item, "fixturenames", ())]
    if not needing:
        return
    rest = [item for item in items if "go_tools" not in getattr(item, "fixturenames", ())]
    items[:] = rest + needing
    if config.option.collectonly:
        return
    # Its own session (process group), so the whole build can be reniced or stopped at once. The script
    # holds a lock while it builds: the go_tools fixture's own run waits for this one, then builds nothing.
    config.stash[PREBUILD] = subprocess.Popen(
        ["nice", "-n", "19", "bash", str(GO_TOOLS)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A background build still running (the session stopped early) is stopped; the Go build cache keeps
    the packages it compiled, so the next run resumes from there."""
    prebuild = session.config.stash.get(PREBUILD, None)
    if prebuild is not None and prebuild.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(prebuild.pid, signal.SIGTERM)
        prebuild.wait(timeout=30)


@pytest.fixture(scope="session")
def go_tools(request: pytest.FixtureRequest) -> Path:
    """The bin folder of scripts/tools/go-tools.sh, once the tools are built (built once, then cached)."""
    prebuild = request.config.stash.get(PREBUILD, None)
    if prebuild is not None and prebuild.poll() is None:
        # Now tests wait for it: back to normal priority where allowed (root; others may not lower nice).
        with suppress(OSError):
            os.setpriority(os.PRIO_PGRP, prebuild.pid, 0)
    # When the background build failed, this run tries again and its output says why.
    done = subprocess.run(["bash", str(GO_TOOLS)], capture_output=True, text=True, timeout=1700)
    assert done.returncode == 0, f"go-tools.sh failed:\n{done.stderr[-4000:]}"
    return Path(done.stdout.strip().splitlines()[-1])
