"""Capacity by a stepped ramp: the most concurrent users the stack holds at p95 < 500 ms and errors < 0.1 %.

Each step is one headless Locust run of ``bench/locustfile.py`` at N users held for ``--hold`` seconds:
accounts are registered in an unmeasured setup phase and the statistics are reset once every user has signed
in (``AIWFE_LOAD_STEADY=1``), so a step measures the steady journey, not the sign-in burst of its ramp.
The ramp stops at the first step that misses a target. Prints one line per step, the answer and the
command to rerun.

    .venv/bin/python bench/capacity.py                       # local stack (make up), 100, 200, 400, 700, 1000
    .venv/bin/python bench/capacity.py --steps 25,50,100 --hold 30
    .venv/bin/python bench/capacity.py --host https://localhost:8443 --ca .aiwfe/.../root.crt

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


def step(
    host: str, ca: str | None, users: int, spawn_rate: float, hold: float, folder: Path
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
    with open(f"{prefix}.log", "w") as log:
        subprocess.run(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, check=False, timeout=ramp + hold + 600 + users
        )
    with open(f"{prefix}_stats.csv", newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if r["Name"] == "Aggregated")
    requests = float(row["Request Count"] or 0)
    failures = float(row["Failure Count"] or 0)
    return {
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
    parser.add_argument("--spawn-rate", type=float, default=50.0, help="users started per second")
    parser.add_argument("--out", type=Path, help="folder for the Locust CSVs (default: a temp folder)")
    args = parser.parse_args()
    host, ca = (args.host, args.ca) if args.host else _local_target()
    folder = args.out or Path(tempfile.mkdtemp(prefix="aiwfe-capacity-"))
    folder.mkdir(parents=True, exist_ok=True)
    steps = [int(n) for n in args.steps.split(",") if n.strip()]
    best: dict[str, float] | None = None
    results = []
    print(f"capacity ramp against {host}: steps {steps}, hold {args.hold:g} s, spawn {args.spawn_rate:g}/s")
    print(f"{'users':>6} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'errors %':>9}  result")
    for users in steps:
        began = time.monotonic()
        figures = step(host, ca, users, args.spawn_rate, args.hold, folder)
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
