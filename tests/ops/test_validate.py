"""``aiwfe validate`` (short variant) against a whole stack in a temp folder on free ports."""

from __future__ import annotations

import html
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.stacks import running_stack, stack_env

from aiwfe_stack.stack import Stack

# Every drill runs; the worker main-process kill alone waits its full 60 s for the in-flight tasks.
pytestmark = [pytest.mark.stack, pytest.mark.timeout(1200)]

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
    cmd = [
        aiwfe,
        "validate",
        "--users",
        "10",
        "--duration",
        "12",
        "--schema-examples",
        "3",
        "--out",
        str(out),
    ]
    done = subprocess.run(
        cmd, env=stack_env(stack.settings), capture_output=True, text=True, timeout=900, check=False
    )
    folders = list(out.glob("validation-*"))
    assert len(folders) == 1, done.stdout + done.stderr
    folder = folders[0]
    assert (folder / "report.md").exists(), done.stdout + done.stderr
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
    assert {"POST /api/v1/auth/login", "POST /api/v1/calendars", "GET /api/v1/events (week)"} <= names
    assert "POST /api/v1/auth/register" not in names  # accounts come from the unmeasured setup phase
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
    pool = drills["kill -9 worker mid-task (pool process)"]
    assert pool["killed_pid"] > 0
    assert pool["completed"] == pool["tasks"], pool
    main = drills["kill -9 worker mid-task (main process)"]
    assert main["new_pid"] != main["killed_pid"]
    assert main["recovery_s"] is not None, main
    assert main["in_flight"], main
    for program in ("redis", "postgres"):
        restart = drills[f"restart {program}"]
        assert restart["recovery_s"] is not None
        data = restart["data"]
        assert data["session_ok"], restart
        assert data["writes_committed"] == data["writes_readable"] > 0, restart
        assert data["tasks_queued"] == data["tasks_completed"] > 0, restart

    assert report["steps"]["restore"]["ok"] is True, report["steps"]["restore"]

    schema = report["steps"]["schema"]
    assert schema["operations"] > 20, schema
    assert schema["cases"] > schema["operations"], schema
    assert schema["findings"] == [], schema["findings"]
    shots = report["steps"]["snapshots"]
    if stack.settings.monitoring:
        assert len(shots["panels"]) >= 5, shots
        assert all((folder / p["path"]).stat().st_size > 0 for p in shots["panels"])
    else:
        assert shots["skipped"]

    assert any(line.startswith(("PASS", "SKIP", "FAIL")) for line in report["steps"]["scan"]["lines"])

    page = (folder / "report.html").read_text()
    assert page.startswith("<!doctype html>")
    assert page.count('src="data:image/png;base64,') >= 2
    assert all(html.escape(t["name"]) in page for t in report["targets"])
    criteria = {t["name"] for t in report["targets"]}
    assert {
        "every service healthy",
        "load: p95 (ms)",
        "failover: kill -9 worker mid-task (pool process) tasks not completed within 60 s",
        "failover: restart redis data lost (sessions + writes + tasks)",
        "failover: restart postgres data lost (sessions + writes + tasks)",
        "restore drill",
        "schemathesis: 5xx answers",
        "schemathesis: schema violations",
        "security scan: no FAIL",
    } <= criteria, sorted(criteria)

    failed = [t["name"] for t in report["targets"] if not t["ok"]]
    assert report["passed"] is (not failed)
    assert done.returncode == (0 if report["passed"] else 1), done.stdout + done.stderr


def test_report_html_embeds_plots_and_escapes_evidence(tmp_path: Path) -> None:
    from aiwfe_stack.evidence.report import render_html
    from aiwfe_stack.evidence.validate import Report

    (tmp_path / "latency.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    report = Report("2026-01-01T00:00:00+00:00", "aiwfe validate", "https://localhost:8443", str(tmp_path))
    report.target("schemathesis: 5xx answers", 1, "0", False, "<script>alert(1)</script>")
    report.steps["load"] = {
        "users": 1,
        "spawn_rate": 1.0,
        "seconds": 1.0,
        "command": "locust",
        "endpoints": [],
        "aggregate": {},
        "failures": [],
        "plots": ["latency.png"],
    }

    page = render_html(report, tmp_path)

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>" not in page
    assert 'src="data:image/png;base64,iVBORw0KGg' in page
    assert '<span class="fail">FAIL</span>' in page
