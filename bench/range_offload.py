"""Does one API replica keep answering while it expands a worst-case range query? ``/health`` latency on the
same process while uncached pages of many long hourly series are read, with expansion on the event loop
(the old way: ``CALENDAR_INLINE_EXPANSION_STEPS`` set beyond reach) and in the worker threads (the default).

Starts real PostgreSQL and Redis and one ``aiwfe api`` process per mode; seeds one user with ``--series``
hourly series; each read asks for a new ~250-day window (so neither the page nor the expansion cache
answers) and so expands every series to its instance limit (``calendar_max_instances``, 5,000: the
budget's worst for a rule that yields). Meanwhile a second client polls ``/health`` every 10 ms. Prints,
per mode, the heavy reads' status and time and the ``/health`` latencies. Nothing is asserted.

With the threads, the event loop must win the GIL back each time it wakes from a socket, and a thread
holding it gives it up only after the switch interval (``api/runtime.py``: ``SWITCH_INTERVAL_SECONDS``).
``--switch-intervals 0.005,0.0005`` measures the threads mode once per interval (the API process runs with
that one instead of the app's); the default measures the app's own. A full garbage collection holds the GIL
for as long as it walks the heap: ``--compare-gc`` measures each interval with CPython's collector settings
too (the app tunes them, ``api/runtime.py``). ``--skip-inline`` leaves out the event loop mode. The figures
move with other load on the machine: compare modes of one run, and repeat.

    .venv/bin/python bench/range_offload.py [--series 20] [--reads 3] [--switch-intervals S,S] [--compare-gc]
        [--skip-inline]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from aiwfe.api.runtime import SWITCH_INTERVAL_SECONDS
from aiwfe_stack.ports import free_ports
from aiwfe_stack.servers.scratch import scratch_servers
from api import PASSWORD, api_env, process  # bench/api.py: the same servers and process handling

BIN = Path(__file__).resolve().parent.parent / ".venv" / "bin"
# `aiwfe api` with another switch interval and, with "cpython", CPython's own garbage collector settings
# (argv: interval, gc, aiwfe's arguments); uvicorn's factory import finds the module already patched.
TUNED = """
import gc, sys
import aiwfe.api.runtime as rt
rt.SWITCH_INTERVAL_SECONDS = float(sys.argv[1])
if sys.argv[2] == "cpython":
    rt.GC_THRESHOLDS = gc.get_threshold()
    gc.freeze = lambda: None
from aiwfe.cli import main
main(sys.argv[3:])
"""
QUIET_SECONDS = 3.0
FIRST = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)  # a fixed date: nothing depends on today's


def seed(base: str, series: int) -> dict[str, str]:
    with httpx.Client(base_url=base, timeout=120) as http:
        email = "offload@example.com"
        http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD}).raise_for_status()
        login = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD, "mode": "token"})
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['session_token']}"}
        created = http.post("/api/v1/calendars", json={"name": "Busy", "time_zone": "UTC"}, headers=headers)
        created.raise_for_status()
        for n in range(series):
            start = FIRST + timedelta(minutes=n)
            body = {
                "calendar_id": created.json()["id"],
                "summary": f"Hourly {n}",
                "start": {"date_time": start.strftime("%Y-%m-%dT%H:%M:%S"), "time_zone": "Europe/Berlin"},
                "end": {"date_time": (start + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S"),
                        "time_zone": "Europe/Berlin"},
                "rrule": "FREQ=HOURLY",
            }  # fmt: skip
            http.post("/api/v1/events", json=body, headers=headers).raise_for_status()
        return headers


def measure(base: str, headers: dict[str, str], reads: int, offset: int) -> dict[str, object]:
    """Heavy reads one after another while /health is polled: statuses, times, /health's latencies."""
    stop = threading.Event()
    busy = threading.Event()
    health: list[float] = []
    quiet: list[float] = []

    def poll() -> None:
        with httpx.Client(base_url=base, timeout=60) as http:
            while not stop.is_set():
                during = busy.is_set()
                started = time.perf_counter()
                http.get("/health").raise_for_status()
                (health if during else quiet).append((time.perf_counter() - started) * 1000)
                time.sleep(0.01)

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(QUIET_SECONDS)  # the machine's own share of the latency: no heavy read yet
    busy.set()
    results: list[tuple[int, float, bool]] = []
    with httpx.Client(base_url=base, timeout=120) as http:
        for n in range(reads):
            start = FIRST + timedelta(days=30, hours=offset + n)  # a new window each read: nothing cached
            end = start + timedelta(days=250)
            params = {"start": start.isoformat(), "end": end.isoformat(), "limit": 10}
            began = time.perf_counter()
            response = http.get("/api/v1/events", params=params, headers=headers)
            truncated = response.status_code == 200 and bool(response.json()["truncated"])
            results.append((response.status_code, (time.perf_counter() - began) * 1000, truncated))
    stop.set()
    poller.join()
    return {"reads": results, "health": health, "quiet": quiet}


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--series", type=int, default=20)
    parser.add_argument("--reads", type=int, default=3)
    parser.add_argument("--switch-intervals", default="", help="comma-separated seconds, e.g. 0.005,0.0005")
    parser.add_argument("--skip-inline", action="store_true", help="measure the worker threads only")
    parser.add_argument(
        "--compare-gc", action="store_true", help="each interval also with CPython's collector settings"
    )
    args = parser.parse_args()
    intervals = [float(x) for x in args.switch_intervals.split(",") if x] or [SWITCH_INTERVAL_SECONDS]
    # (label, inline steps or None for the default, switch interval or None for the app's, collector)
    modes: list[tuple[str, str | None, float | None, str]] = []
    if not args.skip_inline:
        modes.append(("on the event loop (before)", "1000000000", None, "tuned"))
    for interval in intervals:
        for collector in ("cpython", "tuned") if args.compare_gc else ("tuned",):
            label = f"threads, switch {interval * 1000:g} ms, {collector} gc"
            modes.append((label, None, interval, collector))
    work = Path(tempfile.mkdtemp(prefix="aiwfe-bench-offload-"))
    report: list[tuple[str, dict[str, object]]] = []
    try:
        with scratch_servers("aiwfe-bench-offload-db-") as servers:
            headers: dict[str, str] | None = None
            for index, (mode, inline_steps, interval, collector) in enumerate(modes):
                (port,) = free_ports(1)
                env = api_env(servers.database_url, servers.redis_url)
                if inline_steps is not None:
                    env["AIWFE_CALENDAR_INLINE_EXPANSION_STEPS"] = inline_steps
                serve = ["api", "--host", "127.0.0.1", "--port", str(port)]
                command = [str(BIN / "aiwfe"), *serve]
                if interval is not None:
                    command = [str(BIN / "python"), "-c", TUNED, str(interval), collector, *serve]
                with process(command, env, port, work / f"api-{index}.log"):
                    base = f"http://127.0.0.1:{port}"
                    if headers is None:
                        headers = seed(base, args.series)
                    report.append((mode, measure(base, headers, args.reads, offset=index * 100)))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n{args.series} hourly series, each expanded to its 5,000-instance limit; {args.reads} reads")
    print("/health while the reads run, and before them (quiet: what the machine alone adds)")
    print(f"{'expansion':<36}{'reads (status, ms)':<36}{'/health n':>10}", end="")
    print(f"{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'quiet p50':>10}{'p99':>7}")
    for mode, found in report:
        reads = found["reads"]
        health = sorted(found["health"])  # type: ignore[type-var]
        quiet = sorted(found["quiet"])  # type: ignore[type-var]
        shown = ", ".join(f"{status} {ms:.0f}" for status, ms, _ in reads)  # type: ignore[attr-defined]
        figures = f"{statistics.median(health):>8.1f}{_p99(health):>8.1f}{health[-1]:>8.1f}"
        print(f"{mode:<36}{shown:<36}{len(health):>10}{figures}", end="")
        print(f"{statistics.median(quiet):>10.1f}{_p99(quiet):>7.1f}")
    shown_intervals = ",".join(f"{x:g}" for x in intervals)
    rerun = f"--series {args.series} --reads {args.reads} --switch-intervals {shown_intervals}"
    flags = " --skip-inline" * args.skip_inline + " --compare-gc" * args.compare_gc
    print(f"rerun: .venv/bin/python bench/range_offload.py {rerun}{flags}")


def _p99(ordered: list[float]) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


if __name__ == "__main__":
    main()
