"""The validation report as Markdown (``report.md``) and self-contained HTML (``report.html``)."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any, Protocol


class ReportLike(Protocol):
    started_at: str
    command: str
    base_url: str
    folder: str
    steps: dict[str, Any]

    @property
    def passed(self) -> bool: ...

    def to_dict(self) -> dict[str, Any]: ...


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown(report: ReportLike) -> str:
    data = report.to_dict()
    lines = [
        f"# Validation report — {'PASSED' if report.passed else 'FAILED'}",
        "",
        f"- started: {report.started_at}",
        f"- target: {report.base_url}",
        f"- rerun: `{report.command}`",
        "",
        "## Targets",
        "",
        "| target | measured | limit | result | evidence |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {t['name']} | {_cell(t['measured'])} | {t['limit']} | {'PASS' if t['ok'] else 'FAIL'} | "
        f"{_cell(t.get('evidence', ''))} |"
        for t in data["targets"]
    ]
    steps = report.steps
    if "health" in steps:
        lines += ["", "## Health sweep", "", "| service | url | status | latency ms | ok | body |"]
        lines.append("|---|---|---|---|---|---|")
        for p in steps["health"]:
            body = _cell(p["body"])[:160]
            lines.append(
                f"| {p['service']} | {p['url']} | {p['status']} | {p['latency_ms']} | {p['ok']} | `{body}` |"
            )
    load = steps.get("load")
    if load and "aggregate" in load:
        lines += [
            "",
            "## Load test",
            "",
            f"{load['users']} users, spawn rate {load['spawn_rate']:g}/s, {load['seconds']:g} s "
            "(accounts registered in an unmeasured setup phase).",
            "",
            f"Command: `{load['command']}`",
            "",
            "| endpoint | requests | failures | median | avg | p95 | p99 | max | req/s |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in [*load["endpoints"], load["aggregate"]]:
            if r:
                lines.append(
                    f"| {r['name']} | {r['requests']} | {r['failures']} | {r['median_ms']:g} | "
                    f"{r['avg_ms']:g} | {r['p95_ms']:g} | {r['p99_ms']:g} | {r['max_ms']:g} | {r['rps']:g} |"
                )
        lines += ["", *[f"![{p}]({p})" for p in load["plots"]]]
        if load["failures"]:
            lines += ["", "Failures:", "", *[f"- {json.dumps(f)[:300]}" for f in load["failures"]]]
    elif load:
        lines += ["", "## Load test", "", f"skipped: {load.get('skipped')}"]
    if "failover" in steps:
        lines += ["", "## Failover drills (under light load through Caddy)", ""]
        lines += [
            "| drill | recovery s | client requests | client errors | data / tasks |",
            "|---|---|---|---|---|",
        ]
        for d in steps["failover"]:
            lines.append(
                f"| {d['name']} | {d.get('recovery_s')} | {d.get('requests', '')} | {d.get('errors', '')} | "
                f"{_cell(drill_evidence(d))} |"
            )
    if "restore" in steps:
        r = steps["restore"]
        lines += ["", "## Restore drill", ""]
        if "error" in r:
            lines.append(f"FAILED: {r['error']}")
        else:
            lines += [
                f"- backup {r['backup_label']} taken in {r['backup_s']} s",
                f"- RTO {r['rto_seconds']:.1f} s, RPO {r['rpo_seconds']}",
                *[f"- {c['name']}: {'ok' if c['ok'] else 'FAIL'} ({c['detail']})" for c in r["checks"]],
            ]
    if "schema" in steps:
        s = steps["schema"]
        lines += ["", "## API schema fuzzing (schemathesis)", ""]
        if "error" in s:
            lines.append(f"FAILED: {s['error']}")
        else:
            lines += [
                f"{s['operations']} operations, {s['cases']} cases ({s['examples']} positive + "
                f"{s['examples']} negative per operation), answers {s['statuses']}, {s['seconds']} s. "
                "Not fuzzed (they end or change the fuzzing session's own credentials): "
                f"{', '.join(s['excluded'])}.",
                "",
            ]
            for f in s["findings"]:
                lines.append(
                    f"- **{f['operation']}** {f['check']} (HTTP {f['status']}): {_cell(f['message'])[:300]}"
                )
                lines.append(f"  request: `{json.dumps(f['request'])[:600]}`")
            if not s["findings"]:
                lines.append("No 5xx and no response that violates the schema.")
    if "snapshots" in steps:
        shots = steps["snapshots"]
        lines += ["", "## Monitoring panels (Prometheus)", ""]
        if "skipped" in shots or "error" in shots:
            lines.append(str(shots.get("skipped") or shots.get("error")))
        else:
            lines += [f"![{p['title']}]({p['path']})" for p in shots["panels"]]
    if "scan" in steps:
        lines += ["", "## Security scan (scripts/scan.py)", "", "```", *steps["scan"]["lines"], "```"]
    return "\n".join(lines) + "\n"


def drill_evidence(drill: dict[str, Any]) -> str:
    """One line per drill: what was lost or kept, as counts."""
    data = drill.get("data")
    if data:
        return (
            f"session {'kept' if data['session_ok'] else 'LOST'}; "
            f"writes {data['writes_readable']}/{data['writes_committed']} readable; "
            f"tasks {data['tasks_completed']}/{data['tasks_queued']} completed"
        )
    if "tasks" in drill:
        text = f"tasks {drill.get('completed', 0)}/{drill['tasks']} completed within 60 s"
        if drill.get("not_completed_within_60s"):
            timeout = drill.get("visibility_timeout_s")
            text += f"; in flight at the kill: redelivered only after the {timeout} s visibility timeout"
        return text
    if "requests" in drill:
        return f"{drill['errors']} client errors in {drill['requests']} requests through Caddy"
    return str(drill.get("detail", ""))


# ---- HTML -------------------------------------------------------------------------------------

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:.9em;width:100%}
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3} .pass{color:#116b11;font-weight:bold} .fail{color:#b00020;font-weight:bold}
code,pre{background:#f6f6f6;font-size:.85em} pre{padding:.6em;overflow-x:auto} img{max-width:100%}
"""


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(folder: Path, name: str, alt: str) -> str:
    path = folder / name
    if not path.exists():
        return f"<p>missing image {html.escape(name)}</p>"
    data = base64.b64encode(path.read_bytes()).decode()
    caption = html.escape(alt)
    image = f'<img alt="{caption}" src="data:image/png;base64,{data}">'
    return f"<figure>{image}<figcaption>{caption}</figcaption></figure>"


def _mark(ok: bool) -> str:
    return '<span class="pass">PASS</span>' if ok else '<span class="fail">FAIL</span>'


def render_html(report: ReportLike, folder: Path) -> str:
    """One file, images embedded as data URIs, so it can be mailed or attached as it is."""
    e = html.escape
    data = report.to_dict()
    steps = report.steps
    parts = [
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>aiwfe validation report</title>"
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Validation report — {_mark(report.passed)}</h1>",
        f"<p>started {e(report.started_at)} · target <code>{e(report.base_url)}</code> · rerun "
        f"<code>{e(report.command)}</code></p>",
        "<h2>Criteria</h2>",
        _table(
            ["criterion", "measured", "limit", "result", "evidence"],
            [
                [
                    e(t["name"]),
                    e(str(t["measured"])),
                    e(t["limit"]),
                    _mark(t["ok"]),
                    e(str(t.get("evidence", ""))),
                ]
                for t in data["targets"]
            ],
        ),
    ]
    if "health" in steps:
        parts += [
            "<h2>Health sweep</h2>",
            _table(
                ["service", "url", "status", "latency ms", "result", "body"],
                [
                    [
                        e(p["service"]),
                        e(p["url"]),
                        e(str(p["status"])),
                        e(str(p["latency_ms"])),
                        _mark(p["ok"]),
                        f"<code>{e(p['body'][:300])}</code>",
                    ]
                    for p in steps["health"]
                ],
            ),
        ]
    load = steps.get("load")
    if load and "aggregate" in load:
        rows = [
            [
                e(r["name"]),
                *(
                    e(f"{r[k]:g}")
                    for k in (
                        "requests",
                        "failures",
                        "median_ms",
                        "avg_ms",
                        "p95_ms",
                        "p99_ms",
                        "max_ms",
                        "rps",
                    )
                ),
            ]
            for r in [*load["endpoints"], load["aggregate"]]
            if r
        ]
        parts += [
            "<h2>Load test</h2>",
            f"<p>{load['users']} users, spawn rate {load['spawn_rate']:g}/s, {load['seconds']:g} s; "
            "accounts are registered in an unmeasured setup phase. "
            f"Command: <code>{e(load['command'])}</code></p>",
            _table(
                [
                    "endpoint",
                    "requests",
                    "failures",
                    "median ms",
                    "avg ms",
                    "p95 ms",
                    "p99 ms",
                    "max ms",
                    "req/s",
                ],
                rows,
            ),
            *(_img(folder, p, p) for p in load["plots"]),
        ]
        if load["failures"]:
            parts.append(
                "<h3>Failures</h3><pre>"
                + e("\n".join(json.dumps(f)[:300] for f in load["failures"]))
                + "</pre>"
            )
    elif load:
        parts.append(f"<h2>Load test</h2><p>skipped: {e(str(load.get('skipped')))}</p>")
    if "failover" in steps:
        parts += [
            "<h2>Failover drills</h2>",
            _table(
                ["drill", "recovery s", "client requests", "client errors", "data / tasks", "raw"],
                [
                    [
                        e(d["name"]),
                        e(str(d.get("recovery_s"))),
                        e(str(d.get("requests", ""))),
                        e(str(d.get("errors", ""))),
                        e(drill_evidence(d)),
                        f"<code>{e(json.dumps(d)[:600])}</code>",
                    ]
                    for d in steps["failover"]
                ],
            ),
        ]
    if "restore" in steps:
        r = steps["restore"]
        parts.append("<h2>Restore drill</h2>")
        if "error" in r:
            parts.append(f"<p class=fail>{e(r['error'])}</p>")
        else:
            parts.append(
                f"<p>backup {e(str(r['backup_label']))} in {r['backup_s']} s · "
                f"RTO {r['rto_seconds']:.1f} s · RPO {e(str(r['rpo_seconds']))}</p>"
            )
            parts.append(
                _table(
                    ["check", "result", "detail"],
                    [[e(c["name"]), _mark(c["ok"]), e(str(c["detail"]))] for c in r["checks"]],
                )
            )
    if "schema" in steps:
        s = steps["schema"]
        parts.append("<h2>API schema fuzzing (schemathesis)</h2>")
        if "error" in s:
            parts.append(f"<p class=fail>{e(s['error'])}</p>")
        else:
            parts.append(
                f"<p>{s['operations']} operations, {s['cases']} cases, answers {e(str(s['statuses']))}, "
                f"{s['seconds']} s. Not fuzzed: {e(', '.join(s['excluded']))}.</p>"
            )
            parts.append(
                _table(
                    ["operation", "check", "status", "message", "request"],
                    [
                        [
                            e(f["operation"]),
                            e(f["check"]),
                            e(str(f["status"])),
                            e(f["message"][:400]),
                            f"<code>{e(json.dumps(f['request'])[:800])}</code>",
                        ]
                        for f in s["findings"]
                    ],
                )
                if s["findings"]
                else "<p class=pass>No 5xx and no response that violates the schema.</p>"
            )
    if "snapshots" in steps:
        shots = steps["snapshots"]
        parts.append("<h2>Monitoring panels (Prometheus)</h2>")
        if "panels" in shots:
            parts += [_img(folder, p["path"], p["title"]) for p in shots["panels"]]
        else:
            parts.append(f"<p>{e(str(shots.get('skipped') or shots.get('error')))}</p>")
    if "scan" in steps:
        parts.append("<h2>Security scan</h2><pre>" + e("\n".join(steps["scan"]["lines"])) + "</pre>")
    parts.append(
        "<p>Raw data in this folder: report.json, locust_*.csv, locust.html, schemathesis.json.</p>"
        "</body></html>"
    )
    return "\n".join(parts)
