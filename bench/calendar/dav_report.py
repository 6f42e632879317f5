"""CalDAV ``REPORT`` (and any other request) measured with ``wrk``: a Python client tops out far below
aiwfe's cached rates, so it would measure itself. The Lua script sends one fixed request and prints
the count, errors and p50/p95 that wrk's own summary leaves out."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

LUA = """
wrk.method = {method}
wrk.body = {body}
{headers}
{edit}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK %d %d %d %f %f\\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout, latency:percentile(50), latency:percentile(95)))
end
"""
# Each connection alternates an edit (a PATCH through the REST API, which bumps the calendar's version) and
# the request measured, so every measured request finds a new version and builds its answer again.
EDIT = """
local n = 0
local edit_headers = {{}}
{edit_headers}
request = function()
  n = n + 1
  if n % 2 == 1 then
    return wrk.format("PATCH", {edit_path}, edit_headers, string.format({edit_body}, n))
  end
  return wrk.format()
end
"""


@dataclass
class WrkFigures:
    name: str
    count: int
    seconds: float
    errors: int
    p50_ms: float
    p95_ms: float
    # The server process's CPU time per request (utime + stime from /proc): steady under others' load.
    cpu_ms: float | None = None

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def pct(self, q: int) -> float:
        return {50: self.p50_ms, 95: self.p95_ms}[q]


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process, from /proc."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": field 3 onward
    return (int(fields[11]) + int(fields[12])) / TICKS


def _lua_string(text: str) -> str:
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    return f"[{eq}[{text}]{eq}]"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def wrk(
    name: str,
    url: str,
    *,
    method: str = "GET",
    body: str = "",
    headers: dict[str, str] | None = None,
    clients: int,
    seconds: float,
    timeout: float = 10.0,
    pid: int | None = None,
    profile: Path | None = None,
    edit: tuple[str, str, dict[str, str]] | None = None,
) -> WrkFigures:
    """``pid``: the server process whose CPU time is counted; ``profile``: a folder for a py-spy recording
    of it (collapsed stacks, one file per target; sampling costs the server a little CPU); ``edit``: (path,
    body with a ``%d``, headers) of a PATCH sent before each request, the figures then count the pairs."""
    header_lines = "\n".join(
        f"wrk.headers[ {_lua_string(key)} ] = {_lua_string(value)}" for key, value in (headers or {}).items()
    )
    edit_script = ""
    if edit is not None:
        edit_path, edit_body, edit_headers = edit
        edit_script = EDIT.format(
            edit_path=_lua_string(edit_path),
            edit_body=_lua_string(edit_body),
            edit_headers="\n".join(
                f"edit_headers[ {_lua_string(key)} ] = {_lua_string(value)}"
                for key, value in edit_headers.items()
            ),
        )
    script = LUA.format(
        method=_lua_string(method), body=_lua_string(body), headers=header_lines, edit=edit_script
    )
    with tempfile.TemporaryDirectory(prefix="aiwfe-bench-wrk-") as folder:
        path = Path(folder) / "request.lua"
        path.write_text(script)
        command = [
            "wrk", f"-t{min(2, clients)}", f"-c{clients}", f"-d{max(1, round(seconds))}s",
            f"--timeout={timeout:g}s", "-s", str(path), url,
        ]  # fmt: skip
        spy = None
        if profile is not None and pid is not None:
            profile.mkdir(parents=True, exist_ok=True)
            slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
            spy_cmd = [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid)]
            spy_cmd += ["--rate", "250", "--nonblocking", "--format", "raw", "--output"]
            spy_cmd += [str(profile / f"{slug}.txt"), "--duration", str(max(1, round(seconds)))]
            spy = subprocess.Popen(spy_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        before = cpu_seconds(pid) if pid is not None else 0.0
        output = subprocess.run(
            command, capture_output=True, text=True, check=True, timeout=seconds + 120
        ).stdout
        spent = cpu_seconds(pid) - before if pid is not None else None
        if spy is not None:
            spy.wait(60)
    found = re.search(r"^WRK (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+)$", output, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"wrk printed no summary:\n{output}")
    count, micros, errors = int(found[1]), int(found[2]), int(found[3])
    if edit is not None:
        count //= 2  # pairs
    cpu_ms = spent * 1000 / count if spent is not None and count else None
    return WrkFigures(
        name, count, micros / 1e6, errors, float(found[4]) / 1000, float(found[5]) / 1000, cpu_ms
    )
