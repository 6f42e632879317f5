"""PNG snapshots of the key dashboard panels, drawn from Prometheus with matplotlib.

Grafana cannot run everywhere (not on this project's build machines); these images are the evidence
the validation report embeds. Each panel is one PromQL range query.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.dates as mdates
import matplotlib.pyplot as plt


@dataclass(frozen=True)
class Panel:
    slug: str
    title: str
    query: str
    unit: str
    legend: str  # label whose value names each series


ERROR_RATIO = (
    'sum(rate(aiwfe_http_requests_total{status=~"5.."}[1m]))'
    " / clamp_min(sum(rate(aiwfe_http_requests_total[1m])), 1e-9)"
)
PANELS = (
    Panel(
        "api-requests",
        "API requests per second by route",
        'sum by (route) (rate(aiwfe_http_requests_total{route!="<unmatched>"}[1m]))',
        "req/s",
        "route",
    ),
    Panel(
        "api-latency-p95",
        "API latency p95 by route",
        "histogram_quantile(0.95, sum by (le, route) (rate(aiwfe_http_request_duration_seconds_bucket[1m])))",
        "s",
        "route",
    ),
    Panel(
        "api-errors",
        "API 5xx ratio",
        ERROR_RATIO,
        "ratio",
        "",
    ),
    Panel("queue-depth", "Celery queue length", "aiwfe_celery_queue_length", "tasks", "queue"),
    Panel(
        "task-rate",
        "Tasks finished per second by state",
        "sum by (state) (rate(aiwfe_celery_tasks_total[1m]))",
        "tasks/s",
        "state",
    ),
    Panel(
        "postgres-connections",
        "PostgreSQL connections by state",
        "sum by (state) (pg_stat_activity_count)",
        "connections",
        "state",
    ),
    Panel("redis-memory", "Redis memory used", "redis_memory_used_bytes", "bytes", "instance"),
)


@dataclass(frozen=True)
class Snapshot:
    panel: Panel
    path: Path
    series: int
    points: int


def render(prometheus_url: str, out_dir: Path, minutes: float = 15) -> list[Snapshot]:
    """Query each panel over the last ``minutes`` and write ``<slug>.png`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    end = time.time()
    start = end - minutes * 60
    step = max(2.0, minutes * 60 / 240)  # about 240 points per line
    taken = []
    with httpx.Client(base_url=prometheus_url, timeout=15) as client:
        for panel in PANELS:
            response = client.get(
                "/api/v1/query_range", params={"query": panel.query, "start": start, "end": end, "step": step}
            )
            response.raise_for_status()
            result = response.json()["data"]["result"]
            figure, axes = plt.subplots(figsize=(8, 3.2), dpi=100)
            points = 0
            for series in result:
                stamps = [datetime.fromtimestamp(float(t), UTC) for t, _ in series["values"]]
                values = [float(v) for _, v in series["values"]]
                points += len(values)
                label = series["metric"].get(panel.legend, "") if panel.legend else panel.title
                axes.plot(stamps, values, label=label or "value", linewidth=1.4)  # type: ignore[arg-type]
            axes.set_title(panel.title, fontsize=11, loc="left")
            axes.set_ylabel(panel.unit)
            axes.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S", tz=UTC))  # type: ignore[no-untyped-call]
            axes.grid(alpha=0.3)
            if not result:
                axes.text(
                    0.5, 0.5, "no data in this range", ha="center", va="center", transform=axes.transAxes
                )
            elif 1 < len(result) <= 8:
                axes.legend(fontsize=7, loc="upper left", frameon=False)
            figure.tight_layout()
            path = out_dir / f"{panel.slug}.png"
            figure.savefig(path)
            plt.close(figure)
            taken.append(Snapshot(panel, path, len(result), points))
    return taken
