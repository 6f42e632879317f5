"""System packages the local stack needs, found on the machine or installed with apt-get."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path


class SystemSetupError(RuntimeError):
    """A required system program is missing and could not be installed; the message says what to do."""


@dataclass(frozen=True)
class Requirement:
    program: str
    package: str


POSTGRES = Requirement("postgres", "postgresql")
REDIS = Requirement("redis-server", "redis-server")
PGBACKREST = Requirement("pgbackrest", "pgbackrest")
STACK_REQUIREMENTS = (POSTGRES, REDIS, PGBACKREST)
# Debian starts these on install on their default ports; the stack runs its own copies.
MONITORING_SERVICES = (
    "prometheus",
    "prometheus-alertmanager",
    "prometheus-node-exporter",
    "prometheus-postgres-exporter",
    "prometheus-redis-exporter",
    "prometheus-blackbox-exporter",
)


def postgres_bindir() -> Path | None:
    """The newest PostgreSQL server bin folder (Debian keeps them under /usr/lib/postgresql/N/bin)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"),
        key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("postgres")
    return Path(on_path).parent if on_path else None


def is_installed(req: Requirement) -> bool:
    if req is POSTGRES:
        return postgres_bindir() is not None
    return shutil.which(req.program) is not None


def ensure_installed(requirements: tuple[Requirement, ...] = STACK_REQUIREMENTS) -> list[str]:
    """Install the Debian packages of missing programs; returns the packages installed."""
    missing = [req.package for req in requirements if not is_installed(req)]
    if not missing:
        return []
    if shutil.which("apt-get") is None:
        raise SystemSetupError(
            f"missing {', '.join(missing)} and there is no apt-get here; install them with your "
            "package manager and run the command again"
        )
    prefix: list[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            raise SystemSetupError(
                f"missing {', '.join(missing)}; run as root or install sudo: "
                f"apt-get install -y {' '.join(missing)}"
            )
        prefix = ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run([*prefix, "apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run([*prefix, "apt-get", "install", "-y", "-qq", *missing], check=True, env=env)
    except subprocess.CalledProcessError as exc:
        raise SystemSetupError(
            f"apt-get could not install {', '.join(missing)} (exit {exc.returncode})"
        ) from exc
    _stop_distribution_services(prefix, missing)
    return missing


def _stop_distribution_services(prefix: list[str], packages: list[str]) -> None:
    """Debian starts the freshly installed servers on their default ports; aiwfe runs its own."""
    if shutil.which("service") is None:
        return
    names = {
        "postgresql": "postgresql",
        "redis-server": "redis-server",
        **{name: name for name in MONITORING_SERVICES},
    }
    for package in packages:
        if package in names:
            subprocess.run(
                [*prefix, "service", names[package], "stop"],
                check=False,
                capture_output=True,
                timeout=60,
            )


def terminate(proc: subprocess.Popen[bytes] | None, timeout: float = 30.0) -> None:
    """Stop a server we started: SIGTERM, then SIGKILL after ``timeout`` seconds; a no-op once it exited."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
