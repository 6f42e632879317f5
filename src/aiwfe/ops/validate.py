"""``aiwfe validate``: health sweep, Locust load test, failover drills, restore drill, security scan, report.

Every step records its evidence (status codes, latencies, bodies, CSVs, plots) in one report folder,
``reports/validation-<time>/report.json`` and ``report.md``; each target is PASS or FAIL there.
"""

from __future__ import annotations

import csv
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from aiwfe.ops.stack import PROJECT_ROOT, Stack

STEPS = ("health", "load", "failover", "restore", "scan")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
RECOVERY_LIMIT_S = 60.0


@dataclass
class Target:
    name: str
    measured: float | str | None
    limit: str
    ok: bool


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

    def target(self, name: str, measured: float | str | None, limit: str, ok: bool) -> None:
        self.targets.append(Target(name, measured, limit, ok))

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


# ---- load test -------------------------------------------------------------------------------


def _num(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return 0.0


def run_locust(
    base_url: str, ca: Path | None, users: int, spawn_rate: float, seconds: float, folder: Path
) -> dict[str, Any]:
    """Headless Locust with bench/locustfile.py; returns the per-endpoint table and the aggregate."""
    prefix = folder / "locust"
    locust = Path(sys.executable).parent / "locust"
    cmd = [
        str(locust),
        "-f",
        str(PROJECT_ROOT / "bench" / "locustfile.py"),
        "--headless",
        "-u",
        str(users),
        "-r",
        f"{spawn_rate:g}",
        "-t",
        f"{max(1, round(seconds))}s",
        "--host",
        base_url,
        "--csv",
        str(prefix),
        "--csv-full-history",
        "--only-summary",
        "--exit-code-on-error",
        "0",
        "--stop-timeout",
        "5",
        "--html",
        str(folder / "locust.html"),
    ]
    env = {**os.environ, **({"AIWFE_LOAD_CA": str(ca)} if ca else {})}
    with (folder / "locust.log").open("w") as log:
        done = subprocess.run(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, check=False, timeout=seconds + 120
        )
    rows: list[dict[str, Any]] = []
    aggregate: dict[str, Any] = {}
    with open(f"{prefix}_stats.csv", newline="") as handle:
        for raw in csv.DictReader(handle):
            row = {
                "name": raw["Name"] if raw["Type"] in ("", "None") else f"{raw['Name']}",
                "requests": int(_num(raw["Request Count"])),
                "failures": int(_num(raw["Failure Count"])),
                "median_ms": round(_num(raw["Median Response Time"]), 1),
                "avg_ms": round(_num(raw["Average Response Time"]), 1),
                "p95_ms": _num(raw["95%"]),
                "p99_ms": _num(raw["99%"]),
                "max_ms": round(_num(raw["Max Response Time"]), 1),
                "rps": round(_num(raw["Requests/s"]), 2),
            }
            if raw["Name"] == "Aggregated":
                aggregate = row
            else:
                rows.append(row)
    failures_csv = Path(f"{prefix}_failures.csv")
    failures = list(csv.DictReader(failures_csv.open())) if failures_csv.exists() else []
    plots = _plots(Path(f"{prefix}_stats_history.csv"), folder)
    return {
        "command": shlex.join(cmd),
        "exit_code": done.returncode,
        "users": users,
        "spawn_rate": spawn_rate,
        "seconds": seconds,
        "endpoints": rows,
        "aggregate": aggregate,
        "failures": failures[:20],
        "plots": plots,
    }


def _plots(history: Path, folder: Path) -> list[str]:
    if not history.exists():
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times, users, rps, p50, p95, p99 = [], [], [], [], [], []
    with history.open(newline="") as handle:
        for raw in csv.DictReader(handle):
            if raw["Name"] != "Aggregated":
                continue
            times.append(_num(raw["Timestamp"]))
            users.append(_num(raw["User Count"]))
            rps.append(_num(raw["Requests/s"]))
            p50.append(_num(raw["50%"]))
            p95.append(_num(raw["95%"]))
            p99.append(_num(raw["99%"]))
    if not times:
        return []
    t = [x - times[0] for x in times]
    out: list[str] = []
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(t, p50, label="p50")
    ax.plot(t, p95, label="p95")
    ax.plot(t, p99, label="p99")
    ax.axhline(500, color="orange", linestyle="--", label="p95 target")
    ax.axhline(1000, color="red", linestyle="--", label="p99 target")
    ax.set_xlabel("seconds")
    ax.set_ylabel("ms (cumulative percentile)")
    ax.set_title("Latency")
    ax.legend()
    fig.tight_layout()
    fig.savefig(folder / "latency.png")
    plt.close(fig)
    out.append("latency.png")
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(t, rps, label="requests/s")
    ax2 = ax.twinx()
    ax2.plot(t, users, color="grey", linestyle=":", label="users")
    ax.set_xlabel("seconds")
    ax.set_ylabel("requests/s")
    ax2.set_ylabel("users")
    ax.set_title("Throughput")
    fig.tight_layout()
    fig.savefig(folder / "throughput.png")
    plt.close(fig)
    out.append("throughput.png")
    return out


# ---- failover drills ---------------------------------------------------------------------------


class LightLoad:
    """A few threads GETting ``url`` continuously; counts answers and errors."""

    def __init__(self, url: str, verify: Any, threads: int = 3) -> None:
        self.url, self.verify = url, verify
        self.ok = self.errors = 0
        self.error_samples: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        with httpx.Client(verify=self.verify, timeout=5) as client:
            while not self._stop.is_set():
                try:
                    good = client.get(self.url).status_code == 200
                    detail = "non-200"
                except httpx.HTTPError as exc:
                    good, detail = False, type(exc).__name__
                with self._lock:
                    if good:
                        self.ok += 1
                    else:
                        self.errors += 1
                        if len(self.error_samples) < 5:
                            self.error_samples.append(detail)
                time.sleep(0.02)

    def __enter__(self) -> LightLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)


def _wait(check: Callable[[], bool], limit: float) -> float | None:
    began = time.monotonic()
    while time.monotonic() - began < limit:
        try:
            if check():
                return round(time.monotonic() - began, 2)
        except (httpx.HTTPError, OSError, ValueError):
            pass
        time.sleep(0.2)
    return None


def _ready(stack: Stack) -> bool:
    code, body = stack.ready_report(timeout=3)
    return code == 200 and body.get("status") == "ok"


def failover_drills(stack: Stack, base_url: str, verify: Any) -> list[dict[str, Any]]:
    drills: list[dict[str, Any]] = []
    url = f"{base_url}/api/v1/auth/providers"
    with LightLoad(url, verify) as load:
        time.sleep(1.0)
        # 1. kill -9 one API replica; supervisord restarts it, Caddy routes around it meanwhile.
        before_ok, before_err = load.ok, load.errors
        pid = stack.program_pid("api-1")
        port = stack.settings.api_ports[0]
        if pid is None:
            drills.append({"name": "kill -9 api-1", "recovery_s": None, "detail": "api-1 has no pid"})
        else:
            os.kill(pid, signal.SIGKILL)

            def replica_back() -> bool:
                new = stack.program_pid("api-1")
                if new is None or new == pid:
                    return False
                return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200

            recovery = _wait(replica_back, RECOVERY_LIMIT_S * 2)
            time.sleep(1.0)
            drills.append(
                {
                    "name": "kill -9 api-1",
                    "killed_pid": pid,
                    "new_pid": stack.program_pid("api-1"),
                    "recovery_s": recovery,
                    "requests": load.ok - before_ok + load.errors - before_err,
                    "errors": load.errors - before_err,
                    "error_samples": list(load.error_samples),
                }
            )
        # 2. and 3. restart Redis, then PostgreSQL: time until /ready is ok again.
        for program in ("redis", "postgres"):
            before_ok, before_err = load.ok, load.errors
            began = time.monotonic()
            result = stack.supervisorctl("restart", program)
            recovery = _wait(lambda: _ready(stack), RECOVERY_LIMIT_S * 2)
            total = None if recovery is None else round(time.monotonic() - began, 2)
            time.sleep(1.0)
            drills.append(
                {
                    "name": f"restart {program}",
                    "supervisorctl": result.stdout.strip()[-300:],
                    "recovery_s": total,
                    "requests": load.ok - before_ok + load.errors - before_err,
                    "errors": load.errors - before_err,
                }
            )
    return drills


# ---- restore drill and scan ------------------------------------------------------------------


def restore(stack: Stack) -> dict[str, Any]:
    from aiwfe.ops.drill import restore_drill

    repo = stack.backups()
    began = time.monotonic()
    info = repo.backup("full")
    backup_s = round(time.monotonic() - began, 1)
    result = restore_drill(repo, repo.cluster.dsn(database="aiwfe"), "aiwfe", stack.paths.run / "drills")
    return {"backup_label": info.label, "backup_s": backup_s, **json.loads(result.to_json())}


def scan() -> dict[str, Any]:
    uv = PROJECT_ROOT / ".aiwfe" / "tools" / "bin" / "uv"
    env = {**os.environ, **({"UV": str(uv)} if uv.exists() else {})}
    done = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "scripts" / "scan.py")],
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT_ROOT,
        check=False,
        timeout=1800,
    )
    summary = done.stdout.split("scan summary", 1)[-1] if "scan summary" in done.stdout else ""
    lines = [line.strip() for line in summary.splitlines() if line.strip()]
    return {"exit_code": done.returncode, "lines": lines, "tail": (done.stdout + done.stderr)[-2000:]}


# ---- the whole run ---------------------------------------------------------------------------


def run(options: Options, progress: Callable[[str], None] = lambda _: None) -> Report:
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
    folder = options.out / f"validation-{started:%Y%m%dT%H%M%SZ}"
    folder.mkdir(parents=True, exist_ok=True)
    report = Report(started.isoformat(), options.command, base_url, str(folder))
    local_target = urlsplit(base_url).hostname in LOCAL_HOSTS

    if "health" not in options.skip:
        progress("health sweep...")
        probes = health_sweep(base_url, verify, stack)
        report.steps["health"] = [asdict(p) for p in probes]
        bad = [p.service for p in probes if not p.ok]
        report.target(
            "every service healthy", f"{len(probes) - len(bad)}/{len(probes)} ok", "all ok", not bad
        )

    if "load" not in options.skip:
        if not local_target:
            report.steps["load"] = {"skipped": "the load test only targets 127.0.0.1/localhost"}
        else:
            rate = options.spawn_rate or max(1.0, options.users / max(1.0, options.duration / 2))
            progress(f"load test: {options.users} users, {rate:g}/s, {options.duration:g}s...")
            load = run_locust(base_url, options.ca, options.users, rate, options.duration, folder)
            report.steps["load"] = load
            agg = load["aggregate"]
            count = int(agg.get("requests", 0))
            err = (agg.get("failures", 0) / count * 100) if count else 100.0
            report.target("load: requests recorded", count, "> 0", count > 0)
            report.target("load: p95 (ms)", agg.get("p95_ms"), "< 500", count > 0 and agg["p95_ms"] < 500)
            report.target("load: p99 (ms)", agg.get("p99_ms"), "< 1000", count > 0 and agg["p99_ms"] < 1000)
            report.target("load: error rate (%)", round(err, 3), "< 0.1", err < 0.1)

    if "failover" not in options.skip and stack is not None:
        progress("failover drills (kill -9 api-1, restart redis, restart postgres)...")
        drills = failover_drills(stack, base_url, verify)
        report.steps["failover"] = drills
        for drill in drills:
            recovery = drill.get("recovery_s")
            ok = recovery is not None and recovery < RECOVERY_LIMIT_S
            report.target(f"failover: {drill['name']} recovery (s)", recovery, "< 60", ok)

    if "restore" not in options.skip and stack is not None:
        progress("backup + restore drill...")
        try:
            result = restore(stack)
        except Exception as exc:  # a failed drill is a failed target, with its reason
            result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        report.steps["restore"] = result
        report.target(
            "restore drill", result.get("rto_seconds"), "verified, RTO < 900 s", bool(result.get("ok"))
        )

    if "scan" not in options.skip:
        progress("security scan...")
        scanned = scan()
        report.steps["scan"] = scanned
        fails = [line for line in scanned["lines"] if line.startswith("FAIL")]
        report.target("security scan: no FAIL", f"{len(fails)} FAIL", "0 FAIL", scanned["exit_code"] == 0)

    write(report, folder)
    return report


def write(report: Report, folder: Path) -> None:
    (folder / "report.json").write_text(json.dumps(report.to_dict(), indent=2, default=str))
    (folder / "report.md").write_text(markdown(report))


def markdown(report: Report) -> str:
    lines = [
        f"# Validation report — {'PASSED' if report.passed else 'FAILED'}",
        "",
        f"- started: {report.started_at}",
        f"- target: {report.base_url}",
        f"- rerun: `{report.command}`",
        "",
        "## Targets",
        "",
        "| target | measured | limit | result |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {t.name} | {t.measured} | {t.limit} | {'PASS' if t.ok else 'FAIL'} |" for t in report.targets
    ]
    if "health" in report.steps:
        lines += [
            "",
            "## Health sweep",
            "",
            "| service | url | status | latency ms | ok | body |",
            "|---|---|---|---|---|---|",
        ]
        for p in report.steps["health"]:
            body = p["body"].replace("|", "\\|").replace("\n", " ")[:160]
            lines.append(
                f"| {p['service']} | {p['url']} | {p['status']} | {p['latency_ms']} | {p['ok']} | `{body}` |"
            )
    load = report.steps.get("load")
    if load and "aggregate" in load:
        lines += [
            "",
            "## Load test",
            "",
            f"{load['users']} users, spawn rate {load['spawn_rate']:g}/s, {load['seconds']:g} s.",
            "",
            f"Command: `{load['command']}`",
            "",
            "| endpoint | requests | failures | median | avg | p95 | p99 | max | req/s |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in [*load["endpoints"], load["aggregate"]]:
            if r:
                lines.append(
                    f"| {r['name']} | {r['requests']} | {r['failures']} | {r['median_ms']:g} | "
                    f"{r['avg_ms']:g} | {r['p95_ms']:g} | {r['p99_ms']:g} | {r['max_ms']:g} | {r['rps']:g} |"
                )
        lines += ["", *[f"![{p}]({p})" for p in load["plots"]]]
        if load["failures"]:
            lines += ["", "Failures:", "", *[f"- {json.dumps(f)[:300]}" for f in load["failures"]]]
    elif load:
        lines += ["", "## Load test", "", f"skipped: {load.get('skipped')}"]
    if "failover" in report.steps:
        lines += ["", "## Failover drills (under light load through Caddy)", ""]
        lines += ["| drill | recovery s | requests | errors |", "|---|---|---|---|"]
        for d in report.steps["failover"]:
            lines.append(f"| {d['name']} | {d.get('recovery_s')} | {d.get('requests')} | {d.get('errors')} |")
    if "restore" in report.steps:
        r = report.steps["restore"]
        lines += ["", "## Restore drill", ""]
        if "error" in r:
            lines.append(f"FAILED: {r['error']}")
        else:
            lines += [
                f"- backup {r['backup_label']} taken in {r['backup_s']} s",
                f"- RTO {r['rto_seconds']:.1f} s, RPO {r['rpo_seconds']}",
                *[f"- {c['name']}: {'ok' if c['ok'] else 'FAIL'} ({c['detail']})" for c in r["checks"]],
            ]
    if "scan" in report.steps:
        lines += ["", "## Security scan (scripts/scan.py)", "", "```", *report.steps["scan"]["lines"], "```"]
    return "\n".join(lines) + "\n"
