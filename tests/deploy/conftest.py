"""Tools the deployment-kit tests run (promtool, amtool), installed from Debian once per session."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from aiwfe_stack.system import Requirement, ensure_installed

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
