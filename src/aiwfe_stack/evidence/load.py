"""The validation's load test: headless Locust with ``bench/locustfile.py``, its CSVs and its two plots."""

from __future__ import annotations

import csv
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from aiwfe_stack.paths import project_root


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
        str(project_root() / "bench" / "locustfile.py"),
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
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, check=False, timeout=seconds + 120 + users
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
