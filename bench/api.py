"""CPU per request of one API replica, against the floor of a Python ASGI stack, with ``wrk`` as the client.

Starts real PostgreSQL and Redis in a temp folder, one API process as in production (``aiwfe api``:
uvicorn, logging at INFO as deployed) and the bare uvicorn app (``bench/bare_app.py``). Seeds one signed-in
user with a calendar of ~15 events (some weekly), then runs Debian's ``wrk`` (a C client that is not the
bottleneck) against each target, one after the other, in the same run:

- the bare app (the floor: 100 %);
- the reference (``bench/reference_me.py``): ``GET /me``'s work in a minimal FastAPI app with the same
  libraries, no middleware; what this framework leaves of the floor for that work; and the same app's
  ``GET /plain``, a JSON answer with no I/O: what the framework alone costs a request;
- ``GET /health``;
- ``GET /api/v1/me`` with a bearer session;
- a week view (``GET /api/v1/events``), cached: the same page read again and again;
- a week view right after an edit: ``wrk`` alternates ``PATCH /api/v1/events/{id}`` and the week view, so
  each read finds a new calendar version and builds the page again; its req/s and CPU count the pair;
- the rest of the load journey's requests (``bench/locustfile.py``), one endpoint at a time, on a calendar of
  its own each so the calendars stay the seeded size for the targets above: ``POST /api/v1/events``,
  ``PATCH /api/v1/events/{id}``, a week view right after a create (the pair), ``GET /api/v1/jobs`` and a
  small ``POST /api/v1/calendars/{id}/import`` (one new event per request).

For each it prints req/s, the share of the floor's req/s and the API process's CPU time per request
(utime + stime from ``/proc`` before and after the run, divided by the requests ``wrk`` completed). The CPU
figure hardly moves with other load on the machine; req/s does. Nothing is asserted.

    .venv/bin/python bench/api.py [--seconds 10] [--connections 8] [--threads 2]

``--profile DIR`` also records each API target's measured run with ``py-spy`` (collapsed stacks, one file per
target in DIR, for flamegraph.pl or speedscope); sampling costs the API a little CPU, so compare CPU figures
only between runs made the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import redis
from reference_me import KEY as REFERENCE_KEY

from aiwfe_stack.ports import free_ports, wait_for_port
from aiwfe_stack.servers.scratch import scratch_servers

BIN = Path(sys.executable).parent
BENCH = Path(__file__).resolve().parent
PASSWORD = "benchmark passphrase 2026"  # noqa: S105 (a throwaway benchmark account)
# A fixed week (Monday to Monday, UTC) the seeded events fall in; nothing depends on today's date.
WEEK_START = datetime(2026, 3, 2, tzinfo=UTC)
WEEK_END = WEEK_START + timedelta(days=7)


def seed_ics() -> bytes:
    """15 events: 10 single ones over the week, 5 weekly series started earlier."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//aiwfe//bench-api//EN"]
    stamp = "20260101T000000Z"
    for n in range(10):
        day = WEEK_START + timedelta(days=n % 7, hours=8 + n)
        lines += [
            "BEGIN:VEVENT",
            f"UID:single-{n}@bench.aiwfe",
            f"DTSTAMP:{stamp}",
            f"DTSTART:{day:%Y%m%dT%H%M%SZ}",
            f"DTEND:{day + timedelta(minutes=45):%Y%m%dT%H%M%SZ}",
            f"SUMMARY:Meeting {n}",
            "END:VEVENT",
        ]
    for n in range(5):
        first = WEEK_START - timedelta(weeks=8) + timedelta(days=n, hours=9)
        lines += [
            "BEGIN:VEVENT",
            f"UID:series-{n}@bench.aiwfe",
            f"DTSTAMP:{stamp}",
            f"DTSTART:{first:%Y%m%dT%H%M%SZ}",
            f"DTEND:{first + timedelta(minutes=30):%Y%m%dT%H%M%SZ}",
            "RRULE:FREQ=WEEKLY",
            f"SUMMARY:Weekly {n}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


@contextmanager
def process(command: list[str], env: dict[str, str], port: int, log: Path) -> Iterator[int]:
    with log.open("ab") as handle:
        proc = subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, timeout=60)
        yield proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


TICKS = os.sysconf("SC_CLK_TCK")
IDLE_SECONDS = 5.0


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (uvicorn serves in the process ``aiwfe api`` starts), from /proc."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": field 3 onward
    return (int(fields[11]) + int(fields[12])) / TICKS


def api_env(database_url: str, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIWFE_")}
    env.update(
        AIWFE_DATABASE_URL=database_url,
        AIWFE_REDIS_URL=redis_url,
        # INFO as deployed: the access log line is part of each request's cost.
        AIWFE_LOG_LEVEL="INFO",
        AIWFE_LOGIN_RATE_PER_IP="100000/minute",
        AIWFE_REGISTER_RATE_PER_IP="100000/minute",
    )
    return env


@dataclass
class Target:
    name: str
    url: str
    headers: dict[str, str]
    script: str | None = None  # Lua for wrk, when a target is more than one GET
    on_api: bool = True
    server: str = "bare"  # which process serves a target that is not on the API


@dataclass
class Result:
    target: Target
    requests: int
    rate: float
    errors: int
    p50_ms: float
    p99_ms: float
    cpu_ms: float | None


_LATENCY_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _latency(text: str, pct: str) -> float:
    found = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    return float(found.group(1)) * _LATENCY_UNITS[found.group(2)] if found else float("nan")


def run_wrk(
    target: Target,
    server: int,
    args: argparse.Namespace,
    work: Path,
    *,
    seconds: float,
    profile: Path | None = None,
) -> Result:
    # A long timeout: a request wrk gave up on still costs the API its CPU, and would go uncounted.
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds:g}s",
        "--latency",
        "--timeout",
        "30s",
    ]
    for key, value in target.headers.items():
        command += ["-H", f"{key}: {value}"]
    if target.script:
        script = work / "wrk.lua"
        script.write_text(target.script)
        command += ["-s", str(script)]
    command.append(target.url)
    spy = None
    if profile is not None:
        name = re.sub(r"[^a-z0-9]+", "-", target.name.lower()).strip("-")
        spy_cmd = [
            str(BIN / "py-spy"),
            "record",
            "--pid",
            str(server),
            "--rate",
            "250",
            "--nonblocking",
            "--gil",
        ]
        spy_cmd += ["--format", "raw", "--output", str(profile / f"{name}.txt"), "--duration", f"{seconds:g}"]
        spy = subprocess.Popen(spy_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    before = cpu_seconds(server)
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    spent = cpu_seconds(server) - before
    if spy is not None:
        spy.wait(60)
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(non2xx.group(1)) if non2xx else 0
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    cpu_ms = spent * 1000 / requests if requests else None
    return Result(target, requests, rate, errors, _latency(out, "50"), _latency(out, "99"), cpu_ms)


def _lua_request(method: str, path: str, authorization: str, content_type: str, body: str) -> str:
    """A Lua expression making one request; ``body`` is a Lua expression (it may use ``n`` and ``tid``)."""
    headers = (
        f'{{["Authorization"] = {json.dumps(authorization)}, ["Content-Type"] = {json.dumps(content_type)}}}'
    )
    return f"wrk.format({json.dumps(method)}, {json.dumps(path)}, {headers}, {body})"


_LUA_THREAD_ID = """
local counter = 0
local n = 0
local tid = 0
setup = function(thread)
  counter = counter + 1
  thread:set("tid", counter)
end
init = function(args)
  tid = tonumber(wrk.thread:get("tid")) or 0
end
"""


def create_body_lua(calendar_id: str) -> str:
    """Lua expression: a 30-minute event (a new row each time, like the journey's), weeks after the seeded
    week, so the week view's page keeps its size while the writes change its calendars' versions."""
    start = WEEK_START + timedelta(days=60, hours=10)
    body = {
        "calendar_id": calendar_id,
        "summary": "Load test meeting",
        "start": {"date_time": start.isoformat().replace("+00:00", "Z"), "time_zone": "UTC"},
        "end": {
            "date_time": (start + timedelta(minutes=30)).isoformat().replace("+00:00", "Z"),
            "time_zone": "UTC",
        },
    }
    return json.dumps(json.dumps(body))


def create_script(calendar_id: str, authorization: str) -> str:
    post = _lua_request(
        "POST", "/api/v1/events", authorization, "application/json", create_body_lua(calendar_id)
    )
    return f"request = function() return {post} end\n"


def create_then_read(calendar_id: str, week_path: str, authorization: str) -> str:
    """wrk Lua: alternate a create in the calendar and a read of the week view (a miss after each write)."""
    post = _lua_request(
        "POST", "/api/v1/events", authorization, "application/json", create_body_lua(calendar_id)
    )
    read = f'wrk.format("GET", {json.dumps(week_path)}, {{["Authorization"] = {json.dumps(authorization)}}})'
    return f"""
local n = 0
request = function()
  n = n + 1
  if n % 2 == 1 then return {post} end
  return {read}
end
"""


def patch_script(event_path: str, authorization: str) -> str:
    patch = _lua_request(
        "PATCH", event_path, authorization, "application/json", "'{\"summary\":\"Edited ' .. n .. '\"}'"
    )
    return f"local n = 0\nrequest = function()\n  n = n + 1\n  return {patch}\nend\n"


def import_script(calendar_id: str, authorization: str) -> str:
    """wrk Lua: import a one-event .ics, a new UID each request (per thread and counter)."""
    ics = (
        "BEGIN:VCALENDAR\\r\\nVERSION:2.0\\r\\nPRODID:-//aiwfe//load//EN\\r\\nBEGIN:VEVENT\\r\\n"
        "UID:' .. tid .. '-' .. n .. '@bench\\r\\nDTSTAMP:20260101T000000Z\\r\\n"
        "DTSTART:20260504T100000Z\\r\\nDTEND:20260504T110000Z\\r\\nSUMMARY:Imported\\r\\n"
        "END:VEVENT\\r\\nEND:VCALENDAR\\r\\n"
    )
    post = _lua_request(
        "POST", f"/api/v1/calendars/{calendar_id}/import", authorization, "text/calendar", f"'{ics}'"
    )
    return _LUA_THREAD_ID + f"request = function()\n  n = n + 1\n  return {post}\nend\n"


def edit_then_read(event_path: str, week_path: str, authorization: str) -> str:
    """wrk Lua: each thread alternates an edit of one event and a read of the week view."""
    return f"""
local n = 0
local auth = {json.dumps(authorization)}
request = function()
  n = n + 1
  if n % 2 == 1 then
    local body = '{{"summary":"Edited ' .. n .. '"}}'
    return wrk.format("PATCH", {json.dumps(event_path)},
      {{["Authorization"] = auth, ["Content-Type"] = "application/json"}}, body)
  end
  return wrk.format("GET", {json.dumps(week_path)}, {{["Authorization"] = auth}})
end
"""


def seed_reference(base: str, headers: dict[str, str], redis_url: str) -> None:
    """Give bench/reference_me.py the bench user's bearer token, as the key to the user's id."""
    with httpx.Client(base_url=base, timeout=30) as http:
        user_id = http.get("/api/v1/me", headers=headers).raise_for_status().json()["id"]
    token = headers["Authorization"].removeprefix("Bearer ")
    with redis.Redis.from_url(redis_url) as client:
        client.set(REFERENCE_KEY + token, user_id)


def seed(base: str) -> tuple[dict[str, str], str, str]:
    """One user, signed in (token), with one calendar imported; returns headers, week path, an event id."""
    with httpx.Client(base_url=base, timeout=120) as http:
        email = "capacity@example.com"
        http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD}).raise_for_status()
        login = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD, "mode": "token"})
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['session_token']}"}
        created = http.post("/api/v1/calendars", json={"name": "Work", "time_zone": "UTC"}, headers=headers)
        created.raise_for_status()
        imported = http.post(
            f"/api/v1/calendars/{created.json()['id']}/import",
            content=seed_ics(),
            headers={**headers, "Content-Type": "text/calendar"},
        )
        imported.raise_for_status()
        if imported.json()["status"] != "succeeded":
            raise RuntimeError(f"the import did not finish inline: {imported.json()}")
        query = httpx.QueryParams(start=WEEK_START.isoformat(), end=WEEK_END.isoformat())
        week_path = f"/api/v1/events?{query}"
        page = http.get(week_path, headers=headers)
        page.raise_for_status()
        items = page.json()["items"]
        if len(items) < 15:
            raise RuntimeError(f"the week view has {len(items)} occurrences, expected at least 15")
        event_id = next(i["event_id"] for i in items if not i.get("recurrence_id"))
        return headers, week_path, event_id


def new_calendar(base: str, headers: dict[str, str], name: str) -> str:
    """Another calendar of the seeded user: the write targets grow it, not the seeded one."""
    with httpx.Client(base_url=base, timeout=60) as http:
        created = http.post("/api/v1/calendars", json={"name": name, "time_zone": "UTC"}, headers=headers)
        created.raise_for_status()
        calendar_id: str = created.json()["id"]
        return calendar_id


def new_event(base: str, headers: dict[str, str], calendar_id: str) -> str:
    with httpx.Client(base_url=base, timeout=60) as http:
        body = json.loads(json.loads(create_body_lua(calendar_id)))
        created = http.post("/api/v1/events", json=body, headers=headers)
        created.raise_for_status()
        event_id: str = created.json()["id"]
        return event_id


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="per target")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--profile", type=Path, help="record API targets with py-spy into this folder")
    parser.add_argument("--only", help="comma-separated parts of target names to run (the floor always runs)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: `apt-get install wrk` (Debian/Ubuntu) gives the C client this needs")

    work = Path(tempfile.mkdtemp(prefix="aiwfe-bench-api-"))
    try:
        with scratch_servers("aiwfe-bench-api-db-") as servers:
            api_port, bare_port, ref_port = free_ports(3)
            api_cmd = [str(BIN / "aiwfe"), "api", "--host", "127.0.0.1", "--port", str(api_port)]
            bare_cmd = [
                str(BIN / "uvicorn"), "bare_app:app", "--app-dir", str(BENCH), "--host", "127.0.0.1",
                "--port", str(bare_port), "--lifespan", "off", "--no-access-log", "--log-level", "warning",
            ]  # fmt: skip
            ref_cmd = [
                str(BIN / "uvicorn"), "reference_me:app", "--app-dir", str(BENCH), "--host", "127.0.0.1",
                "--port", str(ref_port), "--no-access-log", "--log-level", "warning",
            ]  # fmt: skip
            ref_env = {
                **os.environ,
                "AIWFE_REFERENCE_DSN": servers.database_url.replace("postgresql+asyncpg://", "postgresql://"),
                "AIWFE_REFERENCE_REDIS": servers.redis_url,
            }
            env = api_env(servers.database_url, servers.redis_url)
            with (
                process(api_cmd, env, api_port, work / "api.log") as api,
                process(bare_cmd, dict(os.environ), bare_port, work / "bare.log") as bare,
                process(ref_cmd, ref_env, ref_port, work / "reference.log") as reference,
            ):
                base = f"http://127.0.0.1:{api_port}"
                headers, week_path, event_id = seed(base)
                seed_reference(base, headers, servers.redis_url)
                targets = [
                    Target("bare uvicorn app (floor)", f"http://127.0.0.1:{bare_port}/", {}, on_api=False),
                    Target(
                        "reference: minimal FastAPI /me",
                        f"http://127.0.0.1:{ref_port}/me",
                        headers,
                        on_api=False,
                        server="reference",
                    ),
                    Target(
                        "reference: FastAPI, no I/O",
                        f"http://127.0.0.1:{ref_port}/plain",
                        {},
                        on_api=False,
                        server="reference",
                    ),
                    Target("GET /health", f"{base}/health", {}),
                    Target("GET /api/v1/me (bearer)", f"{base}/api/v1/me", headers),
                    Target("week view, cached", f"{base}{week_path}", headers),
                    Target(
                        "week view after an edit (pair)",
                        f"{base}{week_path}",
                        {},
                        script=edit_then_read(
                            f"/api/v1/events/{event_id}", week_path, headers["Authorization"]
                        ),
                    ),
                ]
                auth = headers["Authorization"]
                writes = new_calendar(base, headers, "Writes")
                targets += [
                    Target("POST /events", f"{base}/api/v1/events", {}, script=create_script(writes, auth)),
                    Target(
                        "PATCH /events/{id}",
                        f"{base}/api/v1/events",
                        {},
                        script=patch_script(f"/api/v1/events/{new_event(base, headers, writes)}", auth),
                    ),
                    Target(
                        "week view after a create (pair)",
                        f"{base}{week_path}",
                        {},
                        script=create_then_read(writes, week_path, auth),
                    ),
                    Target("GET /jobs", f"{base}/api/v1/jobs", headers),
                    Target(
                        "POST /calendars/{id}/import",
                        f"{base}/api/v1/calendars",
                        {},
                        script=import_script(new_calendar(base, headers, "Imports"), auth),
                    ),
                ]
                if args.only:
                    wanted = [w.strip().lower() for w in args.only.split(",")]
                    targets = [t for t in targets if not t.on_api or any(w in t.name.lower() for w in wanted)]
                # What the process spends with no request at all (heartbeats, metrics, pools): a write
                # target's few requests per second each carry a share of it in "CPU ms/req".
                idle_before = cpu_seconds(api)
                time.sleep(IDLE_SECONDS)
                idle_ms_per_s = (cpu_seconds(api) - idle_before) * 1000 / IDLE_SECONDS
                results = []
                for target in targets:
                    # A short warm-up (imports, pool, caches) outside the figures.
                    proc = api if target.on_api else reference if target.server == "reference" else bare
                    run_wrk(target, proc, args, work, seconds=1)
                    profile = args.profile if target.on_api else None
                    if profile is not None:
                        profile.mkdir(parents=True, exist_ok=True)
                    results.append(run_wrk(target, proc, args, work, seconds=args.seconds, profile=profile))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    floor = results[0]
    print()
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.seconds:g}s per target; one API process"
        f" (aiwfe api, LOG_LEVEL=INFO); {os.cpu_count()} cores"
    )
    print("load average (1, 5, 15 min) at the end: " + ", ".join(f"{n:.1f}" for n in os.getloadavg()))
    print(
        f"{'target':<34}{'req/s':>9}{'of floor':>10}{'CPU ms/req':>12}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'requests':>10}{'errors':>8}"
    )
    print(f"the API process at rest: {idle_ms_per_s:.1f} ms of CPU per second ({IDLE_SECONDS:g} s measured)")
    for r in results:
        share = r.rate / floor.rate * 100
        cpu = f"{r.cpu_ms:.2f}" if r.cpu_ms is not None else "-"
        print(
            f"{r.target.name:<34}{r.rate:>9.0f}{share:>9.1f}%{cpu:>12}"
            f"{r.p50_ms:>9.1f}{r.p99_ms:>9.1f}{r.requests:>10}{r.errors:>8}"
        )
    print("(a pair: one write (PATCH or POST) and one week-view GET counted as two requests)")
    if args.profile is not None:
        print(f"py-spy profiles (collapsed stacks, sampling on): {args.profile}")
    print(
        f"rerun: .venv/bin/python bench/api.py --seconds {args.seconds:g}"
        f" --connections {args.connections} --threads {args.threads}"
    )


if __name__ == "__main__":
    main()
