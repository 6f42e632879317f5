"""A project-local PostgreSQL cluster: initialise, configure, run (foreground), create the app database.

Used by the local stack (run under the supervisor) and by the test fixtures (run directly), so both
exercise the same code. As root the server runs as the ``postgres`` user, as PostgreSQL requires; as
anyone else it runs as that user. Either way the database superuser is ``postgres``, and peer
authentication on the unix socket maps the server's OS user to it (pgBackRest connects that way).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import asyncpg

from aiwfe_stack.system import SystemSetupError, postgres_bindir

SUPERUSER = "postgres"
CONF_NAME = "aiwfe.conf"
IDENT_MAP = "aiwfe"


def _quote_conf(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass
class PostgresCluster:
    datadir: Path
    port: int
    superuser_password: str
    host: str = "127.0.0.1"
    settings: dict[str, str] = field(default_factory=dict)
    # A unix socket is only needed by local tools that cannot use TCP (pgBackRest).
    socket_dir: Path | None = None
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def run_as(self) -> str | None:
        """The OS user the server runs as: ``postgres`` when we are root, else ourselves."""
        return SUPERUSER if os.geteuid() == 0 else None

    @property
    def os_user(self) -> str:
        """The name of the OS user the server runs as, which peer authentication maps to ``SUPERUSER``."""
        if self.run_as:
            return self.run_as
        try:
            return pwd.getpwuid(os.geteuid()).pw_name
        except KeyError:
            raise SystemSetupError(
                f"user id {os.geteuid()} has no name in the passwd database; PostgreSQL's peer "
                "authentication needs one: run as a user with an /etc/passwd entry"
            ) from None

    @property
    def bindir(self) -> Path:
        found = postgres_bindir()
        if found is None:
            raise SystemSetupError("PostgreSQL is not installed (Debian package: postgresql)")
        return found

    @property
    def initialized(self) -> bool:
        return (self.datadir / "PG_VERSION").exists()

    def command(self) -> list[str]:
        """The foreground server command (what the supervisor runs)."""
        return [str(self.bindir / "postgres"), "-D", str(self.datadir)]

    def dsn(self, user: str = SUPERUSER, password: str | None = None, database: str = "postgres") -> str:
        return f"postgresql://{user}:{password or self.superuser_password}@{self.host}:{self.port}/{database}"

    def init(self) -> None:
        """Create the cluster (idempotent) and (re)write aiwfe's configuration include."""
        if not self.initialized:
            self._initdb()
        self.write_config()

    def _chown(self, path: Path) -> None:
        if self.run_as:
            entry = pwd.getpwnam(self.run_as)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _initdb(self) -> None:
        self.datadir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.datadir.chmod(0o700)
        self._chown(self.datadir)
        self._check_reachable()
        with tempfile.NamedTemporaryFile("w", prefix="aiwfe-pw-", delete=False) as pwfile:
            pwfile.write(self.superuser_password + "\n")
        pw_path = Path(pwfile.name)
        try:
            self._chown(pw_path)
            subprocess.run(
                [
                    str(self.bindir / "initdb"),
                    "-D",
                    str(self.datadir),
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pw_path}",
                    "--auth-local=peer",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--no-locale",
                    "--data-checksums",
                ],
                check=True,
                capture_output=True,
                user=self.run_as,
                cwd="/",
            )
        except subprocess.CalledProcessError as exc:
            raise SystemSetupError(f"initdb failed: {exc.stderr.decode(errors='replace')[-800:]}") from exc
        finally:
            pw_path.unlink(missing_ok=True)

    def _check_reachable(self) -> None:
        if not self.run_as:
            return
        probe = subprocess.run(
            ["runuser", "-u", self.run_as, "--", "test", "-w", str(self.datadir)], check=False
        )
        if probe.returncode != 0:
            raise SystemSetupError(
                f"the {self.run_as} user cannot reach {self.datadir}: a parent folder is not "
                "traversable by other users; put the stack elsewhere with AIWFE_STACK_DIR"
            )

    def write_config(self) -> None:
        if self.socket_dir:
            self.socket_dir.mkdir(parents=True, exist_ok=True)
            self._chown(self.socket_dir)
        conf = {
            "port": str(self.port),
            "listen_addresses": _quote_conf(self.host),
            "unix_socket_directories": _quote_conf(str(self.socket_dir)) if self.socket_dir else "''",
            "password_encryption": "'scram-sha-256'",
            "max_connections": "200",
            "shared_buffers": "'256MB'",
            "log_destination": "'stderr'",
            "logging_collector": "off",
            "log_min_duration_statement": "500",
            "log_line_prefix": "'%m [%p] %q%u@%d '",
            **self.settings,
        }
        text = "# Written by aiwfe; edit the stack settings, not this file.\n"
        text += "".join(f"{key} = {value}\n" for key, value in conf.items())
        target = self.datadir / CONF_NAME
        target.write_text(text)
        self._chown(target)
        self._write_auth()
        main_conf = self.datadir / "postgresql.conf"
        include = f"include_if_exists = '{CONF_NAME}'"
        if include not in main_conf.read_text():
            with main_conf.open("a") as handle:
                handle.write(f"\n{include}\n")

    def _write_auth(self) -> None:
        """Socket logins by peer, mapped so only the server's own OS user becomes the superuser (initdb
        would map each OS user to the role of the same name, and a normal user is not ``postgres``);
        TCP logins by password. Rewritten with the rest of the configuration, so older clusters follow."""
        hba = (
            "# Written by aiwfe with aiwfe.conf; edit the code, not this file.\n"
            "# TYPE  DATABASE     USER  ADDRESS       METHOD\n"
            f"local   all          all                 peer map={IDENT_MAP}\n"
            f"local   replication  all                 peer map={IDENT_MAP}\n"
            "host    all          all   127.0.0.1/32  scram-sha-256\n"
            "host    all          all   ::1/128       scram-sha-256\n"
            "host    replication  all   127.0.0.1/32  scram-sha-256\n"
            "host    replication  all   ::1/128       scram-sha-256\n"
        )
        ident = (
            "# Written by aiwfe: the server's OS user is the superuser on the socket.\n"
            f"{IDENT_MAP}  {self.os_user}  {SUPERUSER}\n"
        )
        for name, text in (("pg_hba.conf", hba), ("pg_ident.conf", ident)):
            path = self.datadir / name
            path.write_text(text)
            path.chmod(0o600)
            self._chown(path)

    def start(self, log: IO[bytes] | int | None = None) -> None:
        """Run the server as a child of this process (tests); the stack uses the supervisor instead."""
        self._proc = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, user=self.run_as, cwd="/"
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        isready = [str(self.bindir / "pg_isready"), "-h", self.host, "-p", str(self.port), "-q"]
        while subprocess.run(isready, check=False).returncode != 0:
            if self._proc is not None and self._proc.poll() is not None:
                raise SystemSetupError(f"postgres exited with code {self._proc.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"PostgreSQL on port {self.port} not ready within {timeout:g}s")
            time.sleep(0.2)

    def stop(self, timeout: float = 30.0) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.send_signal(signal.SIGINT)  # fast shutdown: roll back open transactions, checkpoint
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def kill(self) -> None:
        """SIGKILL the server (crash drills)."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()

    def remove(self) -> None:
        shutil.rmtree(self.datadir, ignore_errors=True)

    async def ensure_monitor_role(self, name: str, password: str) -> None:
        """A login role with only ``pg_monitor`` (for postgres_exporter); idempotent."""
        conn = await asyncpg.connect(self.dsn(), timeout=10)
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", name)
            ident = '"' + name.replace('"', '""') + '"'
            literal = await conn.fetchval("SELECT quote_literal($1)", password)
            await conn.execute(f"{'ALTER' if exists else 'CREATE'} ROLE {ident} LOGIN PASSWORD {literal}")
            await conn.execute(f"GRANT pg_monitor TO {ident}")
        finally:
            await conn.close()

    async def ensure_database(self, name: str, owner: str, password: str) -> None:
        """Create (or update) a login role and a database it owns; idempotent."""
        conn = await asyncpg.connect(self.dsn(), timeout=10)
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", owner)
            verb = "ALTER" if exists else "CREATE"
            ident = '"' + owner.replace('"', '""') + '"'
            # Role DDL cannot take bind parameters; the literal is escaped by PostgreSQL's quote_literal.
            literal = await conn.fetchval("SELECT quote_literal($1)", password)
            await conn.execute(f"{verb} ROLE {ident} LOGIN PASSWORD {literal}")
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                db_ident = '"' + name.replace('"', '""') + '"'
                await conn.execute(f"CREATE DATABASE {db_ident} OWNER {ident}")
        finally:
            await conn.close()
