"""The local stack's monitoring (``make up MONITORING=1``): Prometheus, Alertmanager and the exporters.

Everything comes from Debian and runs under the same supervisord as the platform. The Prometheus
config is the repository's ``monitoring/prometheus/prometheus.yml`` with its targets moved onto the
stack's actual ports, so the rules and dashboards checked in tests are the ones that run.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from aiwfe_stack.paths import project_root
from aiwfe_stack.system import Requirement

REQUIREMENTS = (
    Requirement("prometheus", "prometheus"),
    Requirement("prometheus-alertmanager", "prometheus-alertmanager"),
    Requirement("prometheus-postgres-exporter", "prometheus-postgres-exporter"),
    Requirement("prometheus-redis-exporter", "prometheus-redis-exporter"),
    Requirement("prometheus-node-exporter", "prometheus-node-exporter"),
    Requirement("prometheus-blackbox-exporter", "prometheus-blackbox-exporter"),
)
MONITOR_ROLE = "aiwfe_monitor"


@dataclass(frozen=True)
class MonitoringPorts:
    prometheus: int
    alertmanager: int
    postgres_exporter: int
    redis_exporter: int
    node_exporter: int
    blackbox_exporter: int


@dataclass(frozen=True)
class Targets:
    """Where each scraped process listens in this stack."""

    api: list[int]
    worker: int
    caddy_admin: int
    https: int
    hostname: str


def render_prometheus_config(ports: MonitoringPorts, targets: Targets, scrape_interval: str) -> str:
    """The repository's prometheus.yml with this stack's ports and absolute rule paths."""
    monitoring_dir = project_root() / "monitoring"
    config: dict[str, Any] = yaml.safe_load((monitoring_dir / "prometheus" / "prometheus.yml").read_text())
    config = copy.deepcopy(config)
    config["global"]["scrape_interval"] = scrape_interval
    if _seconds(scrape_interval) < _seconds(config["global"].get("scrape_timeout", "10s")):
        config["global"]["scrape_timeout"] = (
            scrape_interval  # Prometheus refuses a timeout above the interval
        )
    config["global"]["evaluation_interval"] = scrape_interval
    config["rule_files"] = [str(monitoring_dir / "prometheus" / "rules" / "*.yml")]
    config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [
        f"127.0.0.1:{ports.alertmanager}"
    ]
    by_job = {
        "aiwfe-api": [f"127.0.0.1:{port}" for port in targets.api],
        "aiwfe-worker": [f"127.0.0.1:{targets.worker}"],
        "caddy": [f"127.0.0.1:{targets.caddy_admin}"],
        "postgres": [f"127.0.0.1:{ports.postgres_exporter}"],
        "redis": [f"127.0.0.1:{ports.redis_exporter}"],
        "node": [f"127.0.0.1:{ports.node_exporter}"],
        "tls-certificates": [f"{targets.hostname}:{targets.https}"],
    }
    for job in config["scrape_configs"]:
        name = job["job_name"]
        if name not in by_job:
            raise ValueError(
                f"monitoring/prometheus/prometheus.yml has a job the stack does not know: {name}"
            )
        job["static_configs"][0]["targets"] = by_job[name]
        for relabel in job.get("relabel_configs", []):
            if relabel.get("target_label") == "__address__":
                relabel["replacement"] = f"127.0.0.1:{ports.blackbox_exporter}"
    return yaml.safe_dump(config, sort_keys=False)


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for suffix in ("ms", "s", "m", "h"):
        if duration.endswith(suffix) and duration[: -len(suffix)].replace(".", "", 1).isdigit():
            return float(duration[: -len(suffix)]) * units[suffix]
    raise ValueError(f"not a Prometheus duration: {duration!r} (use e.g. 15s or 1m)")


def programs(
    ports: MonitoringPorts,
    run_dir: Path,
    data_dir: Path,
    postgres_dsn: str,
    redis_address: str,
    redis_password: str,
) -> dict[str, dict[str, str]]:
    """supervisord sections for Prometheus, Alertmanager and the four exporters."""
    quote = _supervisor_quote
    monitoring_dir = project_root() / "monitoring"
    return {
        "prometheus": {
            "command": (
                f"/usr/bin/prometheus --config.file={run_dir / 'prometheus.yml'} "
                f"--storage.tsdb.path={data_dir / 'prometheus'} --storage.tsdb.retention.time=30d "
                f"--web.listen-address=127.0.0.1:{ports.prometheus} --web.enable-lifecycle"
            ),
            "priority": "50",
        },
        "alertmanager": {
            "command": (
                f"/usr/bin/prometheus-alertmanager "
                f"--config.file={monitoring_dir / 'alertmanager' / 'alertmanager.yml'} "
                f"--storage.path={data_dir / 'alertmanager'} "
                f"--web.listen-address=127.0.0.1:{ports.alertmanager} --cluster.listen-address="
            ),
            "priority": "50",
        },
        "postgres-exporter": {
            "command": (
                "/usr/bin/prometheus-postgres-exporter "
                f"--web.listen-address=127.0.0.1:{ports.postgres_exporter}"
            ),
            "environment": f"DATA_SOURCE_NAME={quote(postgres_dsn)}",
            "priority": "50",
        },
        "redis-exporter": {
            "command": (
                f"/usr/bin/prometheus-redis-exporter -redis.addr={redis_address} "
                f"-web.listen-address=127.0.0.1:{ports.redis_exporter}"
            ),
            "environment": f"REDIS_PASSWORD={quote(redis_password)}",
            "priority": "50",
        },
        "node-exporter": {
            "command": (
                f"/usr/bin/prometheus-node-exporter --web.listen-address=127.0.0.1:{ports.node_exporter} "
                "--collector.disable-defaults --collector.cpu --collector.meminfo --collector.filesystem "
                "--collector.loadavg --collector.netdev --collector.diskstats"
            ),
            "priority": "50",
        },
        "blackbox-exporter": {
            "command": (
                f"/usr/bin/prometheus-blackbox-exporter "
                f"--config.file={monitoring_dir / 'blackbox' / 'blackbox.yml'} "
                f"--web.listen-address=127.0.0.1:{ports.blackbox_exporter}"
            ),
            "priority": "50",
        },
    }


def _supervisor_quote(value: str) -> str:
    return '"' + value.replace("%", "%%").replace('"', '\\"') + '"'
