"""Whole local stacks for tests: settings on free loopback ports, the matching CLI environment, and a
start-and-destroy context manager shared by every test module that needs a running platform."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiwfe_stack.ports import free_ports
from aiwfe_stack.settings import StackSettings
from aiwfe_stack.stack import Stack

PORT_FIELDS = (
    "http_port",
    "https_port",
    "postgres_port",
    "redis_port",
    "worker_metrics_port",
    "caddy_admin_port",
    "smtp_port",
)
MONITORING_PORT_FIELDS = (
    "prometheus_port",
    "alertmanager_port",
    "postgres_exporter_port",
    "redis_exporter_port",
    "node_exporter_port",
    "blackbox_exporter_port",
)


def stack_settings(root: Path, **overrides: Any) -> StackSettings:
    """Settings for a stack in ``root`` with every port free; ``overrides`` set any other field."""
    names = PORT_FIELDS + MONITORING_PORT_FIELDS
    ports = free_ports(len(names) + 2)
    values: dict[str, Any] = dict(zip(names, ports, strict=False))
    values["api_ports"] = ports[-2:]
    return StackSettings(dir=root, **{**values, **overrides})


def stack_env(settings: StackSettings) -> dict[str, str]:
    """The environment that makes the `aiwfe` CLI act on the stack ``settings`` describes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIWFE_")}
    for name in StackSettings.model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, bool):
            text = "1" if value else "0"
        elif isinstance(value, list | dict):
            text = json.dumps(value)
        else:
            text = str(value)
        env[f"AIWFE_STACK_{name.upper()}"] = text
    return env


@contextmanager
def running_stack(prefix: str, **overrides: Any) -> Iterator[Stack]:
    """Start a stack in a fresh folder under /tmp (the postgres user must reach it), destroy it after."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)
    stack = Stack(stack_settings(root, **overrides))
    try:
        stack.start(timeout=180)
        yield stack
    finally:
        stack.destroy()
