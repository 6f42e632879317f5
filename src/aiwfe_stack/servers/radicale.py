"""A real Radicale CalDAV server on loopback, for the tests and the calendar benchmark.

``Radicale(data_dir, port).start()`` writes a configuration (htpasswd auth with plain passwords,
owner-only rights, filesystem storage under ``data_dir``) and runs ``python -m radicale`` as a child
process; ``add_user`` and ``create_calendar`` prepare an account and a calendar collection;
``stop()`` ends the process. Plain htpasswd entries are fine here: the server only ever listens on
127.0.0.1 and holds throwaway test data.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import quote

import httpx

from aiwfe_stack.system import SystemSetupError, terminate

_MKCALENDAR_BODY = """<?xml version="1.0" encoding="utf-8"?>
<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:set><D:prop>
    <D:displayname>{name}</D:displayname>
    <C:supported-calendar-component-set><C:comp name="VEVENT"/></C:supported-calendar-component-set>
  </D:prop></D:set>
</C:mkcalendar>
"""


@dataclass
class Radicale:
    data_dir: Path
    port: int
    host: str = "127.0.0.1"
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        """Base URL, ending with a slash."""
        return f"http://{self.host}:{self.port}/"

    @property
    def conf_path(self) -> Path:
        return self.data_dir / "radicale.conf"

    @property
    def htpasswd_path(self) -> Path:
        return self.data_dir / "htpasswd"

    @property
    def storage_dir(self) -> Path:
        return self.data_dir / "collections"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "radicale.log"

    def write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.storage_dir.mkdir(exist_ok=True)
        if not self.htpasswd_path.exists():
            self.htpasswd_path.write_text("")
            self.htpasswd_path.chmod(0o600)
        self.conf_path.write_text(
            "# Written by aiwfe.\n"
            "[server]\n"
            f"hosts = {self.host}:{self.port}\n"
            "max_connections = 20\n"
            "timeout = 30\n"
            "delay_on_error = 0\n"
            "[auth]\n"
            "type = htpasswd\n"
            f"htpasswd_filename = {self.htpasswd_path}\n"
            "htpasswd_encryption = plain\n"
            "delay = 0\n"
            "[rights]\n"
            "type = owner_only\n"
            "[storage]\n"
            f"filesystem_folder = {self.storage_dir}\n"
            "[web]\n"
            "type = none\n"
            "[logging]\n"
            "level = warning\n"
        )

    def command(self) -> list[str]:
        return [sys.executable, "-m", "radicale", "--config", str(self.conf_path)]

    def start(self, log: IO[bytes] | int | None = None) -> Radicale:
        """Start the server as a child process and wait until it answers HTTP; returns ``self``."""
        self.write_config()
        if log is None:
            with self.log_path.open("ab") as handle:
                self._proc = subprocess.Popen(self.command(), stdout=handle, stderr=subprocess.STDOUT)
        else:
            self._proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                httpx.request("OPTIONS", self.url, timeout=2)
                return
            except httpx.HTTPError:
                pass
            if self._proc is not None and self._proc.poll() is not None:
                raise SystemSetupError(
                    f"radicale exited with code {self._proc.returncode} (log: {self.log_path})"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"Radicale on port {self.port} not ready within {timeout:g}s")
            time.sleep(0.1)

    def stop(self, timeout: float = 30.0) -> None:
        terminate(self._proc, timeout)

    def __enter__(self) -> Radicale:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add_user(self, username: str, password: str) -> None:
        """Add (or replace) a login; Radicale re-reads the file on every authentication."""
        if ":" in username or "\n" in username + password:
            raise ValueError("username must not contain ':' and neither part a newline")
        lines = [
            line
            for line in self.htpasswd_path.read_text().splitlines()
            if line and not line.startswith(f"{username}:")
        ]
        lines.append(f"{username}:{password}")
        self.htpasswd_path.write_text("".join(f"{line}\n" for line in lines))

    def calendar_url(self, username: str, calendar: str) -> str:
        return f"{self.url}{quote(username)}/{quote(calendar)}/"

    def create_calendar(
        self, username: str, password: str, calendar: str | None = None, display_name: str | None = None
    ) -> str:
        """Create the user (if needed) and a calendar collection; returns the collection URL."""
        self.add_user(username, password)
        calendar = calendar or uuid.uuid4().hex
        url = self.calendar_url(username, calendar)
        body = _MKCALENDAR_BODY.format(name=_xml_escape(display_name or calendar))
        response = httpx.request(
            "MKCALENDAR",
            url,
            content=body.encode(),
            headers={"Content-Type": "application/xml; charset=utf-8"},
            auth=(username, password),
            timeout=10,
        )
        if response.status_code != 201:
            raise RuntimeError(f"MKCALENDAR {url} answered {response.status_code}: {response.text[:200]}")
        return url


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
