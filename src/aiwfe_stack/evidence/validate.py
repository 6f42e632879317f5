"""``aiwfe validate``: health sweep, Locust load test, failover drills, restore drill, schema fuzzing, scan.

Every step records its evidence (status codes, latencies, bodies, CSVs, plots) in one report folder,
``reports/validation-<time>/`` with ``report.json``, ``report.md`` and ``report.html``; each criterion is
PASS or FAIL there. The load test lives in ``load``, the failover drills in ``failover``, the restore drill in
``drill``, schemathesis in ``schema``, rendering in ``report`` (all in ``aiwfe_stack.evidence``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from aiwfe_stack.evidence import report as validate_report
from aiwfe_stack.evidence.failover import RECOVERY_LIMIT_S, failover_drills
from aiwfe_stack.evidence.load import run_locust
from aiwfe_stack.paths import project_root
from aiwfe_stack.stack import Stack

STEPS = ("health", "load", "failover", "restore", "schema", "snapshots", "scan")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
# Accounts the run signs up besides the load test's users: one per failover drill, one for schemathesis.
OTHER_SIGN_UPS = {"failover": 4, "schema": 1}
LOAD_TEST_LIMITS = (
    'export AIWFE_STACK_EXTRA_APP_ENV=\'{"AIWFE_REGISTER_RATE_PER_IP": "100000/minute", '
    '"AIWFE_LOGIN_RATE_PER_IP": "100000/minute", "AIWFE_LOGIN_RATE_PER_ACCOUNT": "100000/minute"}\' '
    "&& make down && make up"
)
START_FOR_VALIDATION = f"start the stack with the load-test limits of docs/validation.md ({LOAD_TEST_LIMITS})"


def rate_limit_problem(stack: Stack, options: Options, steps: list[str]) -> str | None:
    """One sentence when the running stack's per-IP sign-up or sign-in limit cannot serve this run.

    Every account of the run signs up and signs in from this machine's one IP; with a plain `make up`
    (10 sign-ups per hour) the run would die half-way with a 429.
    """
    from limits import parse

    from aiwfe.core.settings import Settings

    needed = (options.users if "load" in steps else 0) + sum(OTHER_SIGN_UPS.get(s, 0) for s in steps)
    if not needed:
        return None
    running = dict(line.split("=", 1) for line in _read(stack.paths.env_file).splitlines() if "=" in line)
    defaults = Settings.model_fields
    for name, field_name in (
        ("AIWFE_REGISTER_RATE_PER_IP", "register_rate_per_ip"),
        ("AIWFE_LOGIN_RATE_PER_IP", "login_rate_per_ip"),
    ):
        value = running.get(name) or str(defaults[field_name].default)
        if parse(value).amount < needed:
            return (
                f"The stack allows {value} per IP ({name}) and this run signs up and in {needed} accounts"
                f" from this machine: {START_FOR_VALIDATION}."
            )
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


@dataclass
class Target:
    name: str
    measured: float | str | None
    limit: str
    ok: bool
    evidence: str = ""


@dataclass
class Probe:
    service: str
    url: str
    status: int | None
    latency_ms: float
    ok: bool
    body: str


@dataclass
class Report:
    started_at: str
    command: str
    base_url: str
    folder: str
    steps: dict[str, Any] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(t.ok for t in self.targets)

    def target(
        self, name: str, measured: float | str | None, limit: str, ok: bool, evidence: str = ""
    ) -> None:
        self.targets.append(Target(name, measured, limit, ok, evidence))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


@dataclass
class Options:
    base_url: str | None = None
    ca: Path | None = None
    users: int = 20
    spawn_rate: float | None = None
    duration: float = 20.0
    out: Path = Path("reports")
    skip: tuple[str, ...] = ()
    command: str = ""
    schema_examples: int = 10


def _probe(client: httpx.Client, service: str, url: str, check: Callable[[httpx.Response], bool]) -> Probe:
    began = time.perf_counter()
    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        elapsed = (time.perf_counter() - began) * 1000
        return Probe(service, url, None, round(elapsed, 1), False, f"{type(exc).__name__}: {exc}")
    elapsed = (time.perf_counter() - began) * 1000
    ok = response.status_code == 200 and check(response)
    return Probe(service, url, response.status_code, round(elapsed, 1), ok, response.text[:400])


def _status_ok(response: httpx.Response) -> bool:
    try:
        return bool(response.json().get("status") == "ok")
    except ValueError:
        return False


def health_sweep(base_url: str, verify: Any, stack: Stack | None) -> list[Probe]:
    """/health and /ready through the front door, each API replica, worker, beat, PostgreSQL, Redis."""
    probes: list[Probe] = []
    with httpx.Client(verify=verify, timeout=10) as client:
        probes.append(_probe(client, "caddy /health", f"{base_url}/health", _status_ok))
        ready = _probe(client, "caddy /ready", f"{base_url}/ready", _status_ok)
        probes.append(ready)
        if stack is not None:
            for index, port in enumerate(stack.settings.api_ports, start=1):
                for path in ("health", "ready"):
                    url = f"http://127.0.0.1:{port}/{path}"
                    probes.append(_probe(client, f"api-{index} /{path}", url, _status_ok))
            metrics = f"http://127.0.0.1:{stack.settings.worker_metrics_port}/metrics"
            probes.append(
                _probe(client, "worker metrics", metrics, lambda r: "celery" in r.text or bool(r.text))
            )
            if stack.settings.monitoring:
                url = f"http://127.0.0.1:{stack.settings.prometheus_port}/-/ready"
                probes.append(_probe(client, "prometheus", url, lambda r: True))
    try:
        checks = json.loads(ready.body).get("checks", {}) if ready.status is not None else {}
    except ValueError:
        checks = {}
    for name in ("postgres", "redis", "migrations", "worker", "beat"):
        found: dict[str, Any] = (checks.get(name) if isinstance(checks, dict) else None) or {}
        probes.append(
            Probe(
                f"{name} (from /ready)",
                f"{base_url}/ready",
                ready.status,
                float(found.get("latency_ms") or 0.0) if found else 0.0,
                found.get("status") == "ok",
                json.dumps(found)[:400] if found else "not reported",
            )
        )
    return probes


# ---- restore drill and scan ------------------------------------------------------------------


def restore(stack: Stack) -> dict[str, Any]:
    from aiwfe_stack.evidence.drill import restore_drill

    repo = stack.backups()
    began = time.monotonic()
    info = repo.backup("full")
    backup_s = round(time.monotonic() - began, 1)
    result = restore_drill(repo, repo.cluster.dsn(database="aiwfe"), "aiwfe", stack.paths.run / "drills")
    return {"backup_label": info.label, "backup_s": backup_s, **json.loads(result.to_json())}


def scan() -> dict[str, Any]:
    uv = project_root() / ".aiwfe" / "tools" / "bin" / "uv"
    env = {**os.environ, **({"UV": str(uv)} if uv.exists() else {})}
    done = subprocess.run(
        [sys.executable, str(project_root() / "scripts" / "scan.py")],
        capture_output=True,
        text=True,
        env=env,
        cwd=project_root(),
        check=False,
        timeout=1800,
    )
    summary = done.stdout.split("scan summary", 1)[-1] if "scan summary" in done.stdout else ""
    lines = [line.strip() for line in summary.splitlines() if line.strip()]
    return {"exit_code": done.returncode, "lines": lines, "tail": (done.stdout + done.stderr)[-2000:]}


def schema_fuzz(base_url: str, verify: Any, examples: int, folder: Path) -> dict[str, Any]:
    from aiwfe_stack.evidence.schema import run_schemathesis

    result = run_schemathesis(base_url, verify, examples=examples).to_dict()
    (folder / "schemathesis.json").write_text(json.dumps(result, indent=2, default=str))
    return result


def snapshots(stack: Stack | None, folder: Path, minutes: float) -> dict[str, Any]:
    """The key dashboard panels as PNGs, when the stack runs Prometheus (``AIWFE_STACK_MONITORING=1``)."""
    if stack is None or not stack.settings.monitoring:
        return {"skipped": "monitoring is not running (start the stack with AIWFE_STACK_MONITORING=1)"}
    from aiwfe_stack.evidence.snapshots import render

    try:
        taken = render(f"http://127.0.0.1:{stack.settings.prometheus_port}", folder / "panels", minutes)
    except httpx.HTTPError as exc:
        return {"error": f"cannot query Prometheus: {type(exc).__name__}: {exc}"}
    return {
        "minutes": minutes,
        "panels": [
            {
                "title": s.panel.title,
                "path": str(s.path.relative_to(folder)),
                "series": s.series,
                "points": s.points,
            }
            for s in taken
        ],
    }


# ---- the whole run ---------------------------------------------------------------------------


def planned_steps(options: Options, local_stack: bool) -> list[str]:
    """The steps this run will take, in order (the progress display counts them)."""
    needs_stack = {"failover", "restore", "snapshots"}
    return [s for s in STEPS if s not in options.skip and (local_stack or s not in needs_stack)]


def _target_drills(report: Report, drills: list[dict[str, Any]]) -> None:
    for drill in drills:
        recovery = drill.get("recovery_s")
        ok = recovery is not None and recovery < RECOVERY_LIMIT_S
        evidence = validate_report.drill_evidence(drill)
        report.target(f"failover: {drill['name']} recovery (s)", recovery, "< 60", ok, evidence)
        if "tasks" in drill:
            lost = drill.get("lost")
            report.target(
                f"failover: {drill['name']} tasks not completed within 60 s",
                lost,
                "0",
                lost == 0,
                evidence,
            )
        data = drill.get("data")
        if data:
            lost = data["writes_lost"] + data["tasks_lost"] + (0 if data["session_ok"] else 1)
            report.target(
                f"failover: {drill['name']} data lost (sessions + writes + tasks)",
                lost,
                "0",
                lost == 0,
                evidence,
            )


def run(options: Options, progress: Callable[[str], None] = lambda _: None) -> Report:
    """Run every step not skipped; ``progress`` is called once as each planned step starts."""
    started = datetime.now(UTC)
    stack: Stack | None = None
    verify: Any = True
    if options.base_url:
        base_url = options.base_url.rstrip("/")
        if options.ca:
            verify = str(options.ca)
        local = Stack()
        same_port = f":{local.settings.https_port}" in base_url
        if urlsplit(base_url).hostname in LOCAL_HOSTS and same_port and local.is_running():
            stack = local
    else:
        stack = Stack()
        if not stack.is_running():
            raise RuntimeError("the local stack is not running (`make up`), or give --base-url")
        s = stack.settings
        base_url = f"https://{s.hostname}:{s.https_port}"
        verify = stack.ca_context()
        options.ca = options.ca or stack.paths.ca_cert
    if stack is not None and not stack.settings.monitoring and stack.runs_monitoring():
        # `make up MONITORING=1` then a plain `make validate`: follow the running stack.
        stack = Stack(stack.settings.model_copy(update={"monitoring": True}))
    if stack is not None:
        # Before anything runs: a run that would die half-way on a 429 stops here, in one sentence.
        problem = rate_limit_problem(stack, options, planned_steps(options, True))
        if problem:
            raise RuntimeError(problem)
    folder = options.out / f"validation-{started:%Y%m%dT%H%M%SZ}"
    folder.mkdir(parents=True, exist_ok=True)
    report = Report(started.isoformat(), options.command, base_url, str(folder))
    local_target = urlsplit(base_url).hostname in LOCAL_HOSTS
    steps = planned_steps(options, stack is not None)

    if "health" in steps:
        progress("health sweep")
        probes = health_sweep(base_url, verify, stack)
        report.steps["health"] = [asdict(p) for p in probes]
        bad = [p.service for p in probes if not p.ok]
        report.target(
            "every service healthy",
            f"{len(probes) - len(bad)}/{len(probes)} ok",
            "all ok",
            not bad,
            f"failing: {', '.join(bad)}" if bad else "",
        )

    if "load" in steps:
        if not local_target:
            progress("load test (skipped: not a local target)")
            report.steps["load"] = {"skipped": "the load test only targets 127.0.0.1/localhost"}
        else:
            rate = options.spawn_rate or max(1.0, options.users / max(1.0, options.duration / 2))
            progress(f"load test: {options.users} users, {rate:g}/s, {options.duration:g} s")
            load = run_locust(base_url, options.ca, options.users, rate, options.duration, folder)
            report.steps["load"] = load
            agg = load["aggregate"]
            count = int(agg.get("requests", 0))
            err = (agg.get("failures", 0) / count * 100) if count else 100.0
            where = f"{count} requests, locust_stats.csv"
            report.target("load: requests recorded", count, "> 0", count > 0, where)
            report.target(
                "load: p95 (ms)", agg.get("p95_ms"), "< 500", count > 0 and agg["p95_ms"] < 500, where
            )
            report.target(
                "load: p99 (ms)", agg.get("p99_ms"), "< 1000", count > 0 and agg["p99_ms"] < 1000, where
            )
            report.target(
                "load: error rate (%)", round(err, 3), "< 0.1", err < 0.1, f"{agg.get('failures', 0)} failed"
            )

    if "failover" in steps and stack is not None:
        progress("failover drills: kill -9 api-1 and the worker, restart redis and postgres")
        try:
            drills = failover_drills(stack, base_url, verify)
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code != 429:
                raise
            raise RuntimeError(
                f"The stack refused a sign-up with 429 (its per-IP limit is used up): {START_FOR_VALIDATION}."
            ) from None
        report.steps["failover"] = drills
        _target_drills(report, drills)

    if "restore" in steps and stack is not None:
        progress("backup + restore drill")
        try:
            result = restore(stack)
        except Exception as exc:  # a failed drill is a failed target, with its reason
            result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        report.steps["restore"] = result
        report.target(
            "restore drill",
            result.get("rto_seconds"),
            "verified, RTO < 900 s",
            bool(result.get("ok")),
            f"RPO {result.get('rpo_seconds')}" if "error" not in result else result["error"],
        )

    if "schema" in steps:
        progress(f"schemathesis: {options.schema_examples} examples per operation and mode")
        try:
            fuzz = schema_fuzz(base_url, verify, options.schema_examples, folder)
        except Exception as exc:  # no schema or no account: a failed criterion with its reason
            fuzz = {"error": f"{type(exc).__name__}: {exc}"}
        report.steps["schema"] = fuzz
        if "error" in fuzz:
            report.target("schemathesis: ran", None, "ran", False, fuzz["error"])
        else:
            where = f"{fuzz['cases']} cases over {fuzz['operations']} operations, schemathesis.json"
            report.target(
                "schemathesis: 5xx answers", fuzz["server_errors"], "0", fuzz["server_errors"] == 0, where
            )
            report.target(
                "schemathesis: schema violations", fuzz["violations"], "0", fuzz["violations"] == 0, where
            )

    if "snapshots" in steps:
        progress("monitoring panel snapshots")
        minutes = max(5.0, (datetime.now(UTC) - started).total_seconds() / 60 + 1)
        shots = snapshots(stack, folder, minutes)
        report.steps["snapshots"] = shots
        if "panels" in shots or "error" in shots:
            count = len(shots.get("panels", []))
            report.target(
                "monitoring panels drawn", count, "> 0", count > 0, shots.get("error", "panels/*.png")
            )

    if "scan" in steps:
        progress("security scan")
        scanned = scan()
        report.steps["scan"] = scanned
        fails = [line for line in scanned["lines"] if line.startswith("FAIL")]
        report.target(
            "security scan: no FAIL",
            f"{len(fails)} FAIL",
            "0 FAIL",
            scanned["exit_code"] == 0,
            "; ".join(fails)[:300],
        )

    write(report, folder)
    return report


def write(report: Report, folder: Path) -> None:
    (folder / "report.json").write_text(json.dumps(report.to_dict(), indent=2, default=str))
    (folder / "report.md").write_text(validate_report.markdown(report))
    (folder / "report.html").write_text(validate_report.render_html(report, folder))
