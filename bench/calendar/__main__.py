"""Month view of a 500-event calendar: the API's range query vs a bare ASGI endpoint vs Radicale.

Starts real PostgreSQL and Redis in a temp folder, the API as in production (``aiwfe api``: uvicorn;
a second one with the page cache off, for the baseline), a bare uvicorn app (``bench/bare_app.py``: the
floor of a Python ASGI stack) and Radicale. Seeds one user's Europe/Berlin calendar with 500 events (20%
recurring, some with EXDATE, a few moved occurrences) through the API's ICS import, and the same file into
Radicale, then measures each target with one httpx client at ``--clients`` concurrency for ``--seconds`` (the
bare app with ``wrk``, a C client: httpx would be the bottleneck there, not the app):

- the API's month view: ``GET /api/v1/events`` for March 2026 (the DST change is on the 29th), expanded
  on the server, as the web UI asks for it (limit 500): cached (repeated reads), each read after an edit
  of one event (the page is built again), and with the cache off (every read expands every series);
- the bare endpoint;
- Radicale's expanded ``REPORT`` (CALDAV:calendar-query with ``<C:expand>``) over the same month;
- with ``wrk`` (a Lua script, ``dav_report.py``): aiwfe's own CalDAV server answering that same expanded
  ``REPORT`` (cached, and with the cache off), Radicale's, and the month view, side by side.

Prints requests/s, p50/p95 per target and the ratios, and for aiwfe's wrk targets the API process's CPU
time per request (utime + stime from /proc: it hardly moves with other load on a shared machine, unlike
req/s and latency); nothing is asserted. ``--quick`` (~40 s) measures the cached month view, the bare
endpoint and one round of Radicale REPORTs. ``--dav-only`` measures only aiwfe's REPORT and the month
view with wrk (no Radicale); ``--profile DIR`` records those runs with py-spy (collapsed stacks).

    .venv/bin/python bench/calendar [--seconds 12] [--clients 8] [--quick] [--dav-only] [--profile DIR]
"""

from __future__ import annotations

# A folder run as `python bench/calendar`, not bench/calendar.py: a calendar.py in bench/ would shadow the
# standard library's calendar module (http.cookiejar imports it) for every script in bench/; a folder
# without __init__.py never wins over a regular module.
import argparse
import asyncio
import functools
import html
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import icalendar
from dateutil.rrule import rrulestr

# bench/calendar is on sys.path when run as a folder.
from dav_report import WrkFigures, basic, wrk  # type: ignore[import-not-found]
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from aiwfe_stack.ports import free_ports, wait_for_port
from aiwfe_stack.servers.radicale import Radicale
from aiwfe_stack.servers.scratch import scratch_servers

BIN = Path(sys.executable).parent
BENCH = Path(__file__).resolve().parent.parent
TZ = ZoneInfo("Europe/Berlin")
# March 2026 in Berlin: CET until the 29th, CEST after.
MONTH_START = datetime(2026, 3, 1, tzinfo=TZ)
MONTH_END = datetime(2026, 4, 1, tzinfo=TZ)
PASSWORD = "benchmark passphrase 2026"  # noqa: S105 (a throwaway benchmark account)
EVENTS = 500
RECURRING = 100
BERLIN_VTIMEZONE = """BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE
"""
REPORT_BODY = """<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/><C:calendar-data><C:expand start="{start}" end="{end}"/></C:calendar-data></D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
    <C:time-range start="{start}" end="{end}"/>
  </C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>
"""


# ---- the calendar ---------------------------------------------------------------------------------


def _rules(rng: random.Random) -> Iterator[str]:
    """100 rules: workday dailies, weeklies, fortnightlies, monthlies, yearlies; some end."""
    days = ["MO", "TU", "WE", "TH", "FR"]
    for _ in range(5):
        yield "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR"
    for _ in range(55):
        yield f"FREQ=WEEKLY;BYDAY={rng.choice(days)}"
    for _ in range(15):
        yield f"FREQ=WEEKLY;INTERVAL=2;BYDAY={rng.choice(days)}"
    for n in range(20):
        yield "FREQ=MONTHLY" if n % 2 else f"FREQ=MONTHLY;BYDAY=1{rng.choice(days)}"
    for _ in range(5):
        yield "FREQ=YEARLY"


def build_ics(seed: int = 5) -> bytes:
    """The benchmark calendar: 400 single events over Jan-Jun 2026 and 100 series started in the past."""
    rng = random.Random(seed)
    cal = icalendar.Calendar()
    cal.add("prodid", "-//aiwfe//bench//EN")
    cal.add("version", "2.0")
    stamp = datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC"))

    def event(uid: str, summary: str) -> icalendar.Event:
        ev = icalendar.Event()
        ev.add("uid", uid)
        ev.add("dtstamp", stamp)
        ev.add("summary", summary)
        if rng.random() < 0.3:
            ev.add("location", f"Room {rng.randint(1, 40)}")
        if rng.random() < 0.3:
            ev.add("description", "Agenda: " + ", ".join(f"item {n}" for n in range(rng.randint(1, 6))))
        return ev

    for n in range(EVENTS - RECURRING):
        ev = event(f"single-{n}@bench.aiwfe", f"Meeting {n}")
        day = date(2026, 1, 1) + timedelta(days=rng.randrange(181))
        if n % 10 == 0:
            ev.add("dtstart", day)
            ev.add("dtend", day + timedelta(days=1))
        else:
            start = datetime(day.year, day.month, day.day, rng.randint(7, 18), rng.choice((0, 15, 30, 45)))
            ev.add("dtstart", start.replace(tzinfo=TZ))
            ev.add("dtend", (start + timedelta(minutes=rng.choice((30, 45, 60, 90)))).replace(tzinfo=TZ))
        cal.add_component(ev)

    for n, rule in enumerate(_rules(rng)):
        uid = f"series-{n}@bench.aiwfe"
        day = date(2025, 6, 2) + timedelta(days=rng.randrange(250))
        start = datetime(day.year, day.month, day.day, rng.randint(8, 17), rng.choice((0, 30)), tzinfo=TZ)
        if n % 10 == 3:
            rule += ";UNTIL=20260630T000000Z"
        elif n % 10 == 7:
            rule += ";COUNT=200"
        ev = event(uid, f"Series {n}")
        ev.add("dtstart", start)
        ev.add("dtend", start + timedelta(minutes=rng.choice((15, 30, 60))))
        ev.add("rrule", icalendar.vRecur.from_ical(rule))
        # Occurrences around the benchmark month, to cancel or move some of them.
        near = [
            o
            for o in rrulestr(rule, dtstart=start).between(
                datetime(2026, 2, 1, tzinfo=TZ), datetime(2026, 4, 30, tzinfo=TZ)
            )
        ]
        moved = near[len(near) // 2] if n % 20 == 1 and near else None
        if n % 3 == 0 and near:
            for skipped in rng.sample([o for o in near if o != moved], k=min(2, len(near) - 1) or 1):
                ev.add("exdate", skipped)
        cal.add_component(ev)
        if moved is not None:
            override = event(uid, f"Series {n} (moved)")
            override.add("recurrence-id", moved)
            override.add("dtstart", moved + timedelta(hours=1))
            override.add("dtend", moved + timedelta(hours=1, minutes=30))
            cal.add_component(override)
    # RRULE-style, as most clients write it: Radicale 3.9 expands an RDATE-list VTIMEZONE (icalendar's
    # add_missing_timezones) an hour off after the DST change.
    cal.add_component(icalendar.Timezone.from_ical(BERLIN_VTIMEZONE))
    return cal.to_ical()


# ---- processes ------------------------------------------------------------------------------------


@contextmanager
def process(command: list[str], env: dict[str, str], port: int, log: Path) -> Iterator[int]:
    """The server running (its pid: ``aiwfe api`` serves in the process it starts)."""
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


def api_env(database_url: str, redis_url: str, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIWFE_")}
    env.update(
        AIWFE_DATABASE_URL=database_url,
        AIWFE_REDIS_URL=redis_url,
        AIWFE_LOG_LEVEL="WARNING",
        AIWFE_LOGIN_RATE_PER_IP="100000/minute",
        AIWFE_REGISTER_RATE_PER_IP="100000/minute",
        AIWFE_CALENDAR_IMPORT_INLINE_BYTES=str(4 * 1024 * 1024),
        **extra,
    )
    return env


# ---- measuring ------------------------------------------------------------------------------------


@dataclass
class Figures:
    name: str
    count: int
    seconds: float
    latencies: list[float]
    errors: int

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def pct(self, q: int) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] * 1000 if self.latencies else float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[q - 1] * 1000


Request = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


async def measure(
    name: str,
    request: Request,
    *,
    clients: int,
    seconds: float,
    warmup: int = 8,
    before: Request | None = None,
) -> Figures:
    """``clients`` loops sharing one client, each sending ``request`` back to back for ``seconds``.

    A request in flight when time is up still counts (Radicale's take seconds each); ``before``, if
    given, runs before every request outside the timing.
    """
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=300) as http:
        for _ in range(warmup):
            (await request(http)).raise_for_status()
        latencies: list[float] = []
        errors = 0
        started = time.perf_counter()
        deadline = started + seconds

        async def loop() -> None:
            nonlocal errors
            while True:  # at least one request per client, however short the time
                if before is not None:
                    await before(http)
                t = time.perf_counter()
                response = await request(http)
                latencies.append(time.perf_counter() - t)
                if response.status_code >= 400:
                    errors += 1
                if time.perf_counter() >= deadline:
                    return

        await asyncio.gather(*(loop() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return Figures(name, len(latencies), elapsed, latencies, errors)


def wrk_floor(url: str, *, clients: int, seconds: float) -> Figures:
    """The bare endpoint measured with ``wrk`` (C): an httpx client tops out near 1,200 req/s here, far
    below what the bare app answers, so it would measure the client rather than the floor."""
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: `apt-get install wrk` (Debian/Ubuntu) gives the floor's client")
    command = ["wrk", "-t2", f"-c{clients}", f"-d{max(seconds, 1):g}s", url]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    count = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return Figures("bare uvicorn endpoint (wrk)", count, count / rate, [], 0)


def _utc(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("UTC")).strftime("%Y%m%dT%H%M%SZ")


async def seed_api(base: str, ics_data: bytes, database_url: str) -> dict[str, str]:
    """One user (address verified, so it may make an app password) and calendar, filled by an ICS import;
    returns the user's auth header."""
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        email = "month-view@example.com"
        (
            await http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
        ).raise_for_status()
        engine = create_async_engine(database_url)
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE users SET email_verified_at = now() WHERE email = :e"), {"e": email}
            )
        await engine.dispose()
        login = await http.post(
            "/api/v1/auth/login", json={"email": email, "password": PASSWORD, "mode": "token"}
        )
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['session_token']}"}
        created = await http.post(
            "/api/v1/calendars", json={"name": "Bench", "time_zone": "Europe/Berlin"}, headers=headers
        )
        created.raise_for_status()
        calendar_id = created.json()["id"]
        imported = await http.post(
            f"/api/v1/calendars/{calendar_id}/import",
            content=ics_data,
            headers={**headers, "Content-Type": "text/calendar"},
        )
        imported.raise_for_status()
        job = imported.json()
        if job["status"] != "succeeded":
            raise RuntimeError(f"the import did not finish inline: {job}")
        return headers


async def seed_caldav(base: str, headers: dict[str, str]) -> tuple[str, str]:
    """The seeded calendar's CalDAV collection and an app password (a token with the caldav scope)."""
    async with httpx.AsyncClient(base_url=base, timeout=60, headers=headers) as http:
        me = (await http.get("/api/v1/me")).raise_for_status().json()
        [calendar] = (await http.get("/api/v1/calendars")).raise_for_status().json()
        token = await http.post("/api/v1/me/tokens", json={"name": "bench", "scopes": ["caldav"]})
        token.raise_for_status()
    url = f"{base}/dav/calendars/{me['id']}/{calendar['id']}/"
    return url, basic(me["email"], token.json()["token"])


def seed_radicale(server: Radicale, ics_data: bytes) -> tuple[str, tuple[str, str]]:
    """The same file PUT as one collection (Radicale splits it into one item per UID)."""
    auth = ("bench", PASSWORD)
    server.add_user(*auth)
    url = server.calendar_url("bench", "month")
    response = httpx.put(
        url,
        content=ics_data,
        headers={"Content-Type": "text/calendar; charset=utf-8"},
        auth=auth,
        timeout=120,
    )
    if response.status_code not in (200, 201, 204):
        raise RuntimeError(f"PUT {url} answered {response.status_code}: {response.text[:300]}")
    return url, auth


def api_starts(items: list[dict[str, Any]]) -> set[tuple[str, str]]:
    starts = set()
    for item in items:
        start = item["start"]
        moment = start["date"] if start.get("date") else _utc(datetime.fromisoformat(start["date_time"]))
        starts.add((item["uid"], moment.replace("-", "")))
    return starts


def radicale_starts(multistatus: str) -> set[tuple[str, str]]:
    starts = set()
    for data in re.findall(r"<[^>]*calendar-data[^>]*>(.*?)</[^>]*calendar-data>", multistatus, re.DOTALL):
        for event in icalendar.Calendar.from_ical(html.unescape(data)).walk("VEVENT"):
            moment = event.decoded("dtstart")
            text = _utc(moment) if isinstance(moment, datetime) else moment.strftime("%Y%m%d")
            starts.add((str(event["uid"]), text))
    return starts


def table(figures: list[Figures], floor: Figures) -> None:
    print(f"{'target':<52}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'n':>7}{'errors':>7}{'vs bare':>9}")
    for f in figures:
        share = f.rate / floor.rate * 100
        print(
            f"{f.name:<52}{f.rate:>9.1f}{f.pct(50):>9.1f}{f.pct(95):>9.1f}{f.count:>7}{f.errors:>7}{share:>8.1f}%"
        )


async def run(args: argparse.Namespace, database_url: str, redis_url: str, work: Path) -> None:
    api_port, uncached_port, bare_port, radicale_port = free_ports(4)
    ics_data = build_ics()

    def api_cmd(port: int) -> list[str]:
        return [str(BIN / "aiwfe"), "api", "--host", "127.0.0.1", "--port", str(port)]

    bare_cmd = [
        str(BIN / "uvicorn"), "bare_app:app", "--app-dir", str(BENCH), "--host", "127.0.0.1",
        "--port", str(bare_port), "--lifespan", "off", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    radicale = Radicale(work / "radicale", radicale_port)
    seconds, clients = args.seconds, args.clients
    env = api_env(database_url, redis_url, {})
    # The same code with AIWFE_CALENDAR_CACHE_SECONDS=0: every read expands every series (the baseline).
    uncached_env = api_env(database_url, redis_url, {"AIWFE_CALENDAR_CACHE_SECONDS": "0"})
    with ExitStack() as running:
        api_pid = running.enter_context(process(api_cmd(api_port), env, api_port, work / "api.log"))
        uncached_pid = running.enter_context(
            process(api_cmd(uncached_port), uncached_env, uncached_port, work / "api-uncached.log")
        )
        if not args.dav_only:
            running.enter_context(process(bare_cmd, dict(os.environ), bare_port, work / "bare.log"))
            running.enter_context(radicale)
        base = f"http://127.0.0.1:{api_port}"
        t = time.perf_counter()
        headers = await seed_api(base, ics_data, database_url)
        url, auth = ("", ("", "")) if args.dav_only else seed_radicale(radicale, ics_data)
        dav_url, dav_auth = await seed_caldav(base, headers)
        print(f"seeded {EVENTS} events ({len(ics_data) // 1024} KiB .ics) in {time.perf_counter() - t:.1f} s")

        params = {"start": MONTH_START.isoformat(), "end": MONTH_END.isoformat(), "limit": "500"}
        report = REPORT_BODY.format(start=_utc(MONTH_START), end=_utc(MONTH_END))

        async def month(http: httpx.AsyncClient) -> httpx.Response:
            return await http.get(f"{base}/api/v1/events", params=params, headers=headers)

        async def month_uncached(http: httpx.AsyncClient) -> httpx.Response:
            return await http.get(
                f"http://127.0.0.1:{uncached_port}/api/v1/events", params=params, headers=headers
            )

        edits = 0
        edited: str | None = None

        async def edit(http: httpx.AsyncClient) -> None:
            nonlocal edits
            edits += 1
            # Renaming one event bumps the calendar's version: the next read builds the page again.
            response = await http.patch(
                f"{base}/api/v1/events/{edited}", json={"summary": f"Edited {edits}"}, headers=headers
            )
            response.raise_for_status()

        async def caldav(http: httpx.AsyncClient) -> httpx.Response:
            return await http.request(
                "REPORT",
                url,
                content=report.encode(),
                headers={"Depth": "1", "Content-Type": "application/xml; charset=utf-8"},
                auth=auth,
            )

        dav_headers = {"Depth": "1", "Content-Type": "application/xml; charset=utf-8"}
        async with httpx.AsyncClient(timeout=300) as http:
            page = (await month(http)).json()
            edited = page["items"][0]["event_id"]
            dav = "" if args.dav_only else (await caldav(http)).text
            own_dav = await http.request(
                "REPORT", dav_url, content=report.encode(), headers={**dav_headers, "Authorization": dav_auth}
            )
            own_dav.raise_for_status()
        ours, theirs = api_starts(page["items"]), radicale_starts(dav)
        own = radicale_starts(own_dav.text)
        radicale_pairs = (
            ""
            if args.dav_only
            else f" Radicale {len(theirs)}, API/Radicale {ours == theirs},"
            f" aiwfe CalDAV/Radicale {own == theirs},"
        )
        print(
            f"occurrences in March 2026: API {len(ours)} (more pages: {page['next_cursor'] is not None}),"
            f" aiwfe CalDAV {len(own)}; the same (UID, start) pairs:{radicale_pairs}"
            f" aiwfe CalDAV/API {own == ours}"
        )
        pids = (api_pid, uncached_pid)
        if args.dav_only:
            figures = compare_reports(
                args, report, (dav_url, dav_auth, uncached_port), None, (base, params, headers), pids, edited
            )
            print_reports(figures, clients)
            return

        api = await measure("API month view (cached)", month, clients=clients, seconds=seconds)
        results = [api]
        if not args.quick:
            results.append(
                await measure(
                    "API month view, each after an edit", month, clients=clients, seconds=seconds, before=edit
                )
            )
            results.append(
                await measure("API month view, cache off", month_uncached, clients=clients, seconds=seconds)
            )
        floor = wrk_floor(f"http://127.0.0.1:{bare_port}/", clients=clients, seconds=seconds)
        # Radicale takes seconds per REPORT: in --quick, one round (one REPORT per client).
        dav_seconds = 0.0 if args.quick else seconds
        dav_figures = await measure(
            "Radicale expanded REPORT", caldav, clients=clients, seconds=dav_seconds, warmup=1
        )
        results += [floor, dav_figures]
        side_by_side = compare_reports(
            args,
            report,
            (dav_url, dav_auth, uncached_port),
            (url, auth),
            (base, params, headers),
            pids,
            edited,
        )
    print()
    print(f"{clients} concurrent clients, one httpx.AsyncClient; March 2026, Europe/Berlin, limit 500")
    print("load average (1, 5, 15 min) at the end: " + ", ".join(f"{n:.1f}" for n in os.getloadavg()))
    table(results, floor)
    print(
        f"API month view (cached) / bare endpoint: {api.rate / floor.rate * 100:.1f}% of the rate,"
        f" p95 {api.pct(95):.1f} ms (target >= 10%, p95 <= 50 ms)"
    )
    print(f"API month view (cached) / Radicale: {api.rate / dav_figures.rate:.0f}x the rate")
    if not args.quick:
        print("(each after an edit: req/s counts reads only, over time that also holds the edits)")
    print_reports(side_by_side, clients)


def compare_reports(
    args: argparse.Namespace,
    report: str,
    aiwfe: tuple[str, str, int],
    radicale: tuple[str, tuple[str, str]] | None,
    month_view: tuple[str, dict[str, str], dict[str, str]],
    pids: tuple[int, int],
    edited: str | None = None,
) -> list[WrkFigures]:
    """The same expanded REPORT on aiwfe's CalDAV server and on Radicale (unless ``None``), and the month
    view, with wrk; for aiwfe's targets also the API process's CPU time per request."""
    dav_url, dav_auth, uncached_port = aiwfe
    api_pid, uncached_pid = pids
    base, params, headers = month_view
    dav_headers = {"Depth": "1", "Content-Type": "application/xml; charset=utf-8"}
    seconds = args.seconds
    timed = functools.partial(wrk, clients=args.clients, seconds=seconds)
    # aiwfe's targets: the API process's CPU time counted (and recorded with --profile).
    aiwfe_report = functools.partial(
        timed,
        method="REPORT",
        body=report,
        headers={**dav_headers, "Authorization": dav_auth},
        profile=args.profile,
    )
    month_url = f"{base}/api/v1/events?{httpx.QueryParams(params)}"
    month = functools.partial(timed, url=month_url, headers=headers, pid=api_pid, profile=args.profile)
    figures = [aiwfe_report("aiwfe CalDAV expanded REPORT", dav_url, pid=api_pid)]
    if not args.quick:
        uncached_url = re.sub(r"//127\.0\.0\.1:\d+/", f"//127.0.0.1:{uncached_port}/", dav_url)
        cache_off = aiwfe_report("aiwfe CalDAV expanded REPORT, cache off", uncached_url, pid=uncached_pid)
        figures.append(cache_off)
    if not args.quick and edited is not None:
        # Each read right after an edit of one event: the answer is built again (expansions are reused).
        edit = (
            f"/api/v1/events/{edited}",
            '{"summary": "Edited %d"}',
            {**headers, "Content-Type": "application/json"},
        )
        figures.append(
            aiwfe_report("aiwfe CalDAV expanded REPORT, each after an edit", dav_url, pid=api_pid, edit=edit)
        )
        figures.append(month("API month view, each after an edit", edit=edit))
    figures.append(month("API month view (cached)"))
    if radicale is None:
        return figures
    radicale_url, (user, password) = radicale
    # Radicale takes seconds per REPORT (tens on a busy machine): a longer window, so several complete.
    figures.append(
        timed(
            "Radicale expanded REPORT",
            radicale_url,
            method="REPORT",
            body=report,
            headers={**dav_headers, "Authorization": basic(user, password)},
            seconds=max(3 * seconds, 60.0),
            timeout=300.0,
        )
    )
    return figures


def print_reports(figures: list[WrkFigures], clients: int) -> None:
    print()
    print(f"the same expanded calendar-query REPORT of March 2026, wrk with {clients} connections:")
    print(f"{'target':<52}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'n':>7}{'errors':>7}{'CPU ms':>8}")
    for f in figures:
        cpu = f"{f.cpu_ms:>8.2f}" if f.cpu_ms is not None else f"{'':>8}"
        print(f"{f.name:<52}{f.rate:>9.1f}{f.pct(50):>9.1f}{f.pct(95):>9.1f}{f.count:>7}{f.errors:>7}{cpu}")
    print("(CPU ms: the API process's utime + stime per request, from /proc; steady under others' load)")
    if any("each after an edit" in f.name for f in figures):
        print("(each after an edit: n, req/s and CPU ms count read + edit pairs; latencies mix both)")
    ours = figures[0]
    month = next(f for f in figures if f.name == "API month view (cached)")
    theirs = next((f for f in figures if f.name == "Radicale expanded REPORT"), None)
    if theirs is not None:
        ratio = f"{ours.rate / theirs.rate:.0f}x" if theirs.rate else "n/a (no Radicale REPORT finished)"
        print(f"aiwfe CalDAV REPORT / Radicale: {ratio} the rate (target >= 100x)")
    cpu = ""
    if ours.cpu_ms is not None and month.cpu_ms is not None:
        share = ours.cpu_ms / month.cpu_ms
        cpu = f"; CPU per request {ours.cpu_ms:.2f} ms vs {month.cpu_ms:.2f} ms = {share:.1f}x"
    print(
        f"aiwfe CalDAV REPORT p95 {ours.pct(95):.1f} ms vs the month view's {month.pct(95):.1f} ms"
        f" = {ours.pct(95) / month.pct(95):.1f}x (target <= 2x){cpu}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=12.0, help="per target")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--quick", action="store_true", help="4 s per target, cached month view only, one Radicale round"
    )
    parser.add_argument(
        "--dav-only",
        action="store_true",
        help="only aiwfe's REPORT (cached, cache off) and the month view with wrk: no Radicale, no httpx",
    )
    parser.add_argument("--profile", type=Path, help="record aiwfe's targets with py-spy into this folder")
    args = parser.parse_args()
    if args.quick:
        args.seconds = 4.0

    work = Path(tempfile.mkdtemp(prefix="aiwfe-bench-calendar-"))
    work.chmod(0o755)
    try:
        with scratch_servers("aiwfe-bench-calendar-db-") as servers:
            asyncio.run(run(args, servers.database_url, servers.redis_url, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    flags = "--quick" if args.quick else f"--seconds {args.seconds:g}"
    flags += " --dav-only" if args.dav_only else ""
    print(f"rerun: .venv/bin/python bench/calendar {flags} --clients {args.clients}")


if __name__ == "__main__":
    main()
