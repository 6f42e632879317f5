"""Capacity by a stepped ramp: the most concurrent users the stack holds at p95 < 500 ms and errors < 0.1 %.

Each step is one headless Locust run of ``bench/locustfile.py`` at N users held for ``--hold`` seconds:
accounts are registered in an unmeasured setup phase and the statistics are reset once every user has signed
in (``AIWFE_LOAD_STEADY=1``), so a step measures the steady journey, not the sign-in burst of its ramp.
The ramp stops at the first step that misses a target. Prints one line per step, the answer and the
command to rerun.

    .venv/bin/python bench/capacity.py                       # local stack (make up), 100, 200, 400, 700, 1000
    .venv/bin/python bench/capacity.py --steps 25,50,100 --hold 30
    .venv/bin/python bench/capacity.py --host https://localhost:8443 --ca .aiwfe/.../root.crt
    .venv/bin/python bench/capacity.py --steps 400,1000 --cpu   # + CPU per request of each process

``--cpu`` (local stack) also reads each stack process's CPU time (utime + stime from ``/proc``, PostgreSQL
with its backends) at the start and the end of the hold, and divides the API replicas' by the requests
Locust completed between those two moments (from its per-second history): CPU ms per journey request, the
working figure on a machine shared with other work, where p95 is not evidence.

Raise the stack's sign-up and sign-in rate limits first (docs/validation.md, "Rate limits"). Figures depend on
the machine and on what else runs on it; this script asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
P95_LIMIT_MS = 500.0
ERROR_LIMIT_PCT = 0.1
SETTLE_S = 15.0  # the last sign-ins of a ramp finish this long after the last user starts, at most


def _local_target() -> tuple[str, str]:
    from aiwfe_stack.stack import Stack

    stack = Stack()
    if not stack.is_running():
        raise SystemExit("the local stack is not running (make up), or give --host and --ca")
    s = stack.settings
    return f"https://{s.hostname}:{s.https_port}", str(stack.paths.ca_cert)


TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and of its child processes still running (PostgreSQL's backends)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone meanwhile
        fields = text[text.rindex(")") + 2 :].split()  # from field 3 (state) on
        if int(stat.parent.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def stack_pids() -> dict[str, int]:
    """The local stack's processes by program name (api-1, api-2, caddy, postgres, redis, worker, ...)."""
    from aiwfe_stack.stack import Stack

    stack = Stack()
    pids = {name: stack.program_pid(name) for name in stack.process_status()}
    return {name: pid for name, pid in pids.items() if pid}


def hold_window(history: Path, users: int) -> tuple[float, float, float] | None:
    """(start, end, requests) of the hold from Locust's per-second history: from the statistics reset once
    every user had signed in (or, without one, the first second ``users`` ran), to the last second as many
    users were still running."""
    rows = []
    with open(history, newline="") as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == "Aggregated":
                count = float(row["Total Request Count"])
                rows.append((float(row["Timestamp"]), int(row["User Count"]), count))
    resets = [k for k in range(1, len(rows)) if rows[k][2] < rows[k - 1][2]]
    first = resets[-1] if resets else next((k for k, r in enumerate(rows) if r[1] >= users), None)
    if first is None:
        return None
    # Users who failed to sign in stopped: the hold runs while the count stays where it was at the reset.
    running = rows[first][1]
    last = max((k for k in range(first, len(rows)) if rows[k][1] >= running), default=first)
    if last <= first:
        return None
    return rows[first][0], rows[last][0], rows[last][2] - rows[first][2]


def _at(samples: list[tuple[float, dict[str, float]]], moment: float) -> dict[str, float]:
    return min(samples, key=lambda sample: abs(sample[0] - moment))[1]


def step(
    host: str,
    ca: str | None,
    users: int,
    spawn_rate: float,
    hold: float,
    folder: Path,
    pids: dict[str, int] | None = None,
) -> dict[str, float]:
    """One Locust run at ``users``; the figures cover only the hold, after every user has signed in."""
    prefix = folder / f"step-{users}"
    ramp = users / spawn_rate + SETTLE_S
    cmd = [
        str(Path(sys.executable).parent / "locust"),
        "-f",
        str(ROOT / "bench" / "locustfile.py"),
        "--headless",
        "--only-summary",
        "-u",
        str(users),
        "-r",
        f"{spawn_rate:g}",
        "-t",
        f"{round(ramp + hold)}s",
        "--host",
        host,
        "--csv",
        str(prefix),
        "--exit-code-on-error",
        "0",
        "--stop-timeout",
        "5",
    ]
    env = {**os.environ, "AIWFE_LOAD_STEADY": "1", **({"AIWFE_LOAD_CA": ca} if ca else {})}
    samples: list[tuple[float, dict[str, float]]] = []
    with open(f"{prefix}.log", "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        if pids:  # the load client shares the machine: its cores are part of the picture
            pids = {**pids, "locust": proc.pid}
        deadline = time.monotonic() + ramp + hold + 600 + users
        try:
            # Each process's CPU once a second; the hold's window is read from Locust's history afterwards
            # (its setup phase, the sign-up of every account, comes before its clock starts).
            while proc.poll() is None and time.monotonic() < deadline:
                if pids:
                    samples.append((time.time(), {name: _cpu_seconds(pid) for name, pid in pids.items()}))
                time.sleep(1.0)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    with open(f"{prefix}_stats.csv", newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if r["Name"] == "Aggregated")
    requests = float(row["Request Count"] or 0)
    failures = float(row["Failure Count"] or 0)
    figures: dict[str, float] = {}
    window = hold_window(Path(f"{prefix}_stats_history.csv"), users) if samples else None
    if window is not None:
        start, end, served = window
        before, after = _at(samples, start), _at(samples, end)
        api_cpu = sum(after[name] - before[name] for name in after if name.startswith("api"))
        figures["cpu_requests"] = served
        figures["api_cpu_ms_per_request"] = round(api_cpu * 1000 / served, 2) if served else float("nan")
        for name in after:
            figures[f"cores_{name}"] = round((after[name] - before[name]) / (end - start), 2)
    return {
        **figures,
        "users": users,
        "requests": requests,
        "rps": round(float(row["Requests/s"] or 0), 1),
        "p50_ms": float(row["50%"] or 0),
        "p95_ms": float(row["95%"] or 0),
        "p99_ms": float(row["99%"] or 0),
        "errors_pct": round(failures / requests * 100, 3) if requests else 100.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", help="base URL (default: the local stack through Caddy)")
    parser.add_argument("--ca", help="CA bundle for --host (default: the local stack's Caddy root)")
    parser.add_argument("--steps", default="100,200,400,700,1000", help="comma-separated user counts")
    parser.add_argument("--hold", type=float, default=60.0, help="seconds each step is held at full count")
    parser.add_argument(
        "--spawn-rate",
        type=float,
        default=20.0,
        help="users started per second (each signs in: ~27 ms of argon2 CPU; 50/s fills 1.3 cores of 2)",
    )
    parser.add_argument("--out", type=Path, help="folder for the Locust CSVs (default: a temp folder)")
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="CPU per request of the API and cores of each stack process (local)",
    )
    args = parser.parse_args()
    host, ca = (args.host, args.ca) if args.host else _local_target()
    if args.cpu and args.host:
        parser.error("--cpu reads the local stack's processes: leave out --host")
    pids = stack_pids() if args.cpu else None
    folder = args.out or Path(tempfile.mkdtemp(prefix="aiwfe-capacity-"))
    folder.mkdir(parents=True, exist_ok=True)
    steps = [int(n) for n in args.steps.split(",") if n.strip()]
    best: dict[str, float] | None = None
    results = []
    print(f"capacity ramp against {host}: steps {steps}, hold {args.hold:g} s, spawn {args.spawn_rate:g}/s")
    print(f"{'users':>6} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'errors %':>9}  result")
    for users in steps:
        began = time.monotonic()
        figures = step(host, ca, users, args.spawn_rate, args.hold, folder, pids)
        ok = (
            figures["requests"] > 0
            and figures["p95_ms"] < P95_LIMIT_MS
            and figures["errors_pct"] < ERROR_LIMIT_PCT
        )
        results.append({**figures, "ok": ok, "seconds": round(time.monotonic() - began, 1)})
        print(
            f"{users:>6} {figures['rps']:>7g} {figures['p50_ms']:>7g} {figures['p95_ms']:>7g} "
            f"{figures['p99_ms']:>7g} {figures['errors_pct']:>9g}  {'held' if ok else 'missed'}",
            flush=True,
        )
        if "api_cpu_ms_per_request" in figures:
            cores = ", ".join(
                f"{k.removeprefix('cores_')} {v:g}" for k, v in figures.items() if k.startswith("cores_")
            )
            print(
                f"{'':>6} API CPU {figures['api_cpu_ms_per_request']:g} ms per request "
                f"({figures['cpu_requests']:g} requests in the hold); cores used: {cores}",
                flush=True,
            )
        if not ok:
            break
        best = figures
    (folder / "capacity.json").write_text(json.dumps(results, indent=2))
    if best is None:
        print(f"capacity: below {steps[0]} users (p95 < {P95_LIMIT_MS:g} ms, errors < {ERROR_LIMIT_PCT:g} %)")
    else:
        print(
            f"capacity: {best['users']:g} concurrent users held at p95 {best['p95_ms']:g} ms, "
            f"errors {best['errors_pct']:g} % "
            f"(targets p95 < {P95_LIMIT_MS:g} ms, errors < {ERROR_LIMIT_PCT:g} %)"
        )
    print(f"CSVs: {folder}")
    print("rerun: " + shlex.join([sys.executable, *sys.argv]))


if __name__ == "__main__":
    main()
