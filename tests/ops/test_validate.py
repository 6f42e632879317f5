"""``aiwfe validate`` (short variant) against a whole stack in a temp folder on free ports."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.stacks import running_stack, stack_env

from aiwfe.ops.stack import Stack

pytestmark = pytest.mark.stack

RAISED_LIMITS = {
    "AIWFE_REGISTER_RATE_PER_IP": "100000/minute",
    "AIWFE_LOGIN_RATE_PER_IP": "100000/minute",
    "AIWFE_LOGIN_RATE_PER_ACCOUNT": "100000/minute",
}


@pytest.fixture(scope="module")
def stack(system_packages: None) -> Iterator[Stack]:
    with running_stack("aiwfe-test-validate-", extra_app_env=RAISED_LIMITS) as running:
        yield running


def test_validate_short_run_reports_every_step(stack: Stack, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    aiwfe = str(Path(sys.executable).parent / "aiwfe")
    cmd = [aiwfe, "validate", "--users", "10", "--duration", "12", "--out", str(out)]
    done = subprocess.run(
        cmd, env=stack_env(stack.settings), capture_output=True, text=True, timeout=600, check=False
    )
    folders = list(out.glob("validation-*"))
    assert len(folders) == 1, done.stdout + done.stderr
    folder = folders[0]
    assert (folder / "report.md").read_text().startswith("# Validation report")
    report = json.loads((folder / "report.json").read_text())

    health = {p["service"]: p for p in report["steps"]["health"]}
    expected = {"caddy /health", "caddy /ready", "worker metrics"}
    expected |= {f"api-{i} /{path}" for i in (1, 2) for path in ("health", "ready")}
    expected |= {f"{name} (from /ready)" for name in ("postgres", "redis", "migrations", "worker", "beat")}
    assert expected <= set(health), sorted(health)
    assert [name for name, p in health.items() if not p["ok"]] == []
    assert all(p["status"] == 200 and p["latency_ms"] >= 0 for p in health.values())

    load = report["steps"]["load"]
    names = {row["name"] for row in load["endpoints"]}
    assert {"POST /api/v1/auth/register", "POST /api/v1/calendars", "GET /api/v1/events (week)"} <= names
    assert load["aggregate"]["requests"] > 20
    assert load["aggregate"]["failures"] == 0, load["failures"]
    assert (folder / "latency.png").stat().st_size > 0
    assert (folder / "throughput.png").stat().st_size > 0

    drills = {d["name"]: d for d in report["steps"]["failover"]}
    kill = drills["kill -9 api-1"]
    assert kill["recovery_s"] is not None
    assert 0 < kill["recovery_s"] < 60
    assert kill["new_pid"] != kill["killed_pid"]
    assert kill["requests"] > 0
    assert drills["restart redis"]["recovery_s"] is not None
    assert drills["restart postgres"]["recovery_s"] is not None

    assert report["steps"]["restore"]["ok"] is True, report["steps"]["restore"]
    assert any(line.startswith(("PASS", "SKIP", "FAIL")) for line in report["steps"]["scan"]["lines"])

    failed = [t["name"] for t in report["targets"] if not t["ok"]]
    assert report["passed"] is (not failed)
    assert done.returncode == (0 if report["passed"] else 1), done.stdout + done.stderr
