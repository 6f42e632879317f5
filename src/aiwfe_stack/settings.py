"""What describes one local stack: its settings (``AIWFE_STACK_*``), its folders, its fixed names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from aiwfe_stack.monitoring import MonitoringPorts
from aiwfe_stack.paths import project_root

SECRET_NAMES = ("secret_key", "postgres_superuser", "postgres_app", "postgres_monitor", "redis")
DB_NAME = "aiwfe"
DB_USER = "aiwfe"


class StackError(RuntimeError):
    """The stack cannot start or stop as asked; the message says why and what to do."""


class StackSettings(BaseSettings):
    """Where the local stack keeps its state and which loopback ports it uses (``AIWFE_STACK_*``)."""

    model_config = SettingsConfigDict(env_prefix="AIWFE_STACK_", extra="ignore")

    dir: Path = Field(default_factory=lambda: project_root() / ".aiwfe")
    http_port: int = Field(default=8080, ge=1, le=65535)
    https_port: int = Field(default=8443, ge=1, le=65535)
    postgres_port: int = Field(default=15432, ge=1, le=65535)
    redis_port: int = Field(default=16379, ge=1, le=65535)
    api_ports: list[int] = Field(default=[18001, 18002], min_length=1)
    worker_metrics_port: int = Field(default=19101, ge=1, le=65535)
    caddy_admin_port: int = Field(default=12019, ge=1, le=65535)
    smtp_port: int = Field(default=11025, ge=1, le=65535)
    monitoring: bool = Field(default=False, description="also run Prometheus, Alertmanager and exporters")
    prometheus_port: int = Field(default=19090, ge=1, le=65535)
    alertmanager_port: int = Field(default=19093, ge=1, le=65535)
    postgres_exporter_port: int = Field(default=19187, ge=1, le=65535)
    redis_exporter_port: int = Field(default=19121, ge=1, le=65535)
    node_exporter_port: int = Field(default=19100, ge=1, le=65535)
    blackbox_exporter_port: int = Field(default=19115, ge=1, le=65535)
    scrape_interval: str = "15s"
    hostname: str = "localhost"
    # HSTS on "localhost" would make browsers force https onto the http port too; 0 keeps both usable.
    hsts_max_age: int = Field(default=0, ge=0)
    webui_root: Path | None = None
    caddy_max_body: int = Field(
        default=1024 * 1024,
        ge=1,
        description="bytes: Caddy's limit on declared request bodies (not ICS uploads)",
    )
    log_level: str = "INFO"
    extra_app_env: dict[str, str] = Field(
        default_factory=dict,
        description="more AIWFE_* variables for API, worker, beat (e.g. load-test rate limits)",
    )

    def port_table(self) -> dict[str, tuple[int, str]]:
        table = {
            "http": (self.http_port, "AIWFE_STACK_HTTP_PORT"),
            "https": (self.https_port, "AIWFE_STACK_HTTPS_PORT"),
            "postgres": (self.postgres_port, "AIWFE_STACK_POSTGRES_PORT"),
            "redis": (self.redis_port, "AIWFE_STACK_REDIS_PORT"),
            "worker metrics": (self.worker_metrics_port, "AIWFE_STACK_WORKER_METRICS_PORT"),
            "caddy admin": (self.caddy_admin_port, "AIWFE_STACK_CADDY_ADMIN_PORT"),
            "smtp sink": (self.smtp_port, "AIWFE_STACK_SMTP_PORT"),
        }
        for index, port in enumerate(self.api_ports, start=1):
            table[f"api-{index}"] = (port, "AIWFE_STACK_API_PORTS")
        if self.monitoring:
            for name in (
                "prometheus",
                "alertmanager",
                "postgres_exporter",
                "redis_exporter",
                "node_exporter",
                "blackbox_exporter",
            ):
                table[name.replace("_", " ")] = (
                    getattr(self, f"{name}_port"),
                    f"AIWFE_STACK_{name.upper()}_PORT",
                )
        return table

    def monitoring_ports(self) -> MonitoringPorts:
        return MonitoringPorts(
            prometheus=self.prometheus_port,
            alertmanager=self.alertmanager_port,
            postgres_exporter=self.postgres_exporter_port,
            redis_exporter=self.redis_exporter_port,
            node_exporter=self.node_exporter_port,
            blackbox_exporter=self.blackbox_exporter_port,
        )


@dataclass(frozen=True)
class Paths:
    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def pgdata(self) -> Path:
        return self.data / "postgres"

    @property
    def redisdata(self) -> Path:
        return self.data / "redis"

    @property
    def caddy(self) -> Path:
        return self.data / "caddy"

    @property
    def mail(self) -> Path:
        return self.root / "mail"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets.json"

    @property
    def supervisor_conf(self) -> Path:
        return self.run / "supervisord.conf"

    @property
    def supervisor_sock(self) -> Path:
        return self.run / "supervisor.sock"

    @property
    def supervisor_pid(self) -> Path:
        return self.run / "supervisord.pid"

    @property
    def env_file(self) -> Path:
        return self.root / "stack.env"

    @property
    def ca_cert(self) -> Path:
        return self.caddy / "caddy" / "pki" / "authorities" / "local" / "root.crt"
