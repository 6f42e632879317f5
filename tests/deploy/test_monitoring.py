"""The monitoring kit (monitoring/, docs/runbooks/): configs load in the real tools, every alert is
unit-tested both ways and has a runbook, dashboards hold valid PromQL, log retention is as briefed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from aiwfe_stack.ports import free_ports

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"
PROMETHEUS = MONITORING / "prometheus"
# rules/ runs everywhere; rules-kubernetes/ replaces a file of the same name on Kubernetes (the chart).
RULE_DIRS = {"rules": "tests", "rules-kubernetes": "tests-kubernetes"}
RULE_FILES = sorted(path for folder in RULE_DIRS for path in (PROMETHEUS / folder).glob("*.yml"))
RULE_TESTS = sorted(path for folder in RULE_DIRS.values() for path in (PROMETHEUS / folder).glob("*.yml"))
ALERTMANAGER_CONFIG = MONITORING / "alertmanager" / "alertmanager.yml"
DASHBOARDS = sorted(
    [
        *(MONITORING / "grafana" / "dashboards").glob("*.json"),
        *(MONITORING / "grafana" / "dashboards-kubernetes").glob("*.json"),
    ]
)
RUNBOOKS = ROOT / "docs" / "runbooks"
RUNBOOK_URL = "https://github.com/aiwfe/aiwfe/blob/main/docs/runbooks/{}.md"
# Runbooks that are procedures rather than answers to one alert.
PROCEDURES = {"restore"}


def _app_metrics() -> set[str]:
    """The aiwfe_* series the code exports, read from every module that uses prometheus_client: metric names
    are its string literals; a Histogram adds _bucket, _count and _sum; a Counter's name ends in _total."""
    names: set[str] = set()
    for path in (ROOT / "src" / "aiwfe").rglob("*.py"):
        source = path.read_text()
        if "prometheus_client" not in source:
            continue
        names |= set(re.findall(r'"(aiwfe_[a-z0-9_]+)"', source))
        for histogram in re.findall(r'Histogram\(\s*"(aiwfe_[a-z0-9_]+)"', source):
            names |= {f"{histogram}_{suffix}" for suffix in ("bucket", "count", "sum")}
        for counter in re.findall(r'Counter\(\s*"(aiwfe_[a-z0-9_]+)"', source):
            names.add(counter if counter.endswith("_total") else f"{counter}_total")
    return names


APP_METRICS = _app_metrics()


def _ids(paths: list[Path]) -> list[str]:
    return [path.name for path in paths]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=120)


def _load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _alerts() -> list[dict[str, Any]]:
    return [
        rule
        for path in RULE_FILES
        for group in _load_yaml(path)["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def _alert_names() -> set[str]:
    return {rule["alert"] for rule in _alerts()}


def _dashboard_exprs() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, expr) for every query of every panel."""
    found = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                found.append((path.name, panel["title"], target["expr"]))
    return found


def _without_grafana_variables(expr: str) -> str:
    """Grafana fills $__rate_interval and friends with durations and $var with label regexes."""
    return re.sub(r"\$\{?(\w+)\}?", lambda m: "5m" if m.group(1).startswith("__") else ".*", expr)


# ---- Prometheus ---------------------------------------------------------------------------------


def test_every_rule_file_has_a_unit_test_file_and_dashboards_exist() -> None:
    assert RULE_FILES
    assert DASHBOARDS
    tested = {(p.parent.name, p.name.removesuffix(".test.yml")) for p in RULE_TESTS}
    assert tested == {(RULE_DIRS[p.parent.name], p.stem) for p in RULE_FILES}
    assert {p.name for p in (PROMETHEUS / "rules-kubernetes").glob("*.yml")} <= {
        p.name for p in (PROMETHEUS / "rules").glob("*.yml")
    }, "a Kubernetes rule file must replace one of rules/ (same name, same alerts)"


def _alerts_of(path: Path) -> list[str]:
    return sorted(
        rule["alert"] for group in _load_yaml(path)["groups"] for rule in group["rules"] if "alert" in rule
    )


@pytest.mark.parametrize(
    "replacement", sorted((PROMETHEUS / "rules-kubernetes").glob("*.yml")), ids=lambda p: p.name
)
def test_kubernetes_rule_files_keep_the_alerts_they_replace(replacement: Path) -> None:
    assert _alerts_of(replacement) == _alerts_of(PROMETHEUS / "rules" / replacement.name)


def test_local_stack_backup_metric_is_exported_by_the_worker_and_written_by_backup_now() -> None:
    """BackupTooOld on the local stack: `aiwfe backup now` stores the time, the worker exports it."""
    groups = _load_yaml(PROMETHEUS / "rules" / "postgres.yml")["groups"]
    expr = next(
        rule["expr"] for group in groups for rule in group["rules"] if rule.get("alert") == "BackupTooOld"
    )
    exported = set(re.findall(r'"(aiwfe_[a-z0-9_]+)"', (ROOT / "src/aiwfe/worker/metrics.py").read_text()))
    assert "aiwfe_backup_last_success_timestamp_seconds" in exported
    assert "aiwfe_backup_last_success_timestamp_seconds" in expr
    assert "LAST_BACKUP_KEY" in (ROOT / "src" / "aiwfe_stack" / "cli.py").read_text()


def test_prometheus_config_is_valid(prometheus_tools: dict[str, str]) -> None:
    result = _run(prometheus_tools["promtool"], "check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_scrapes_every_target_of_the_local_stack() -> None:
    config = _load_yaml(PROMETHEUS / "prometheus.yml")
    targets = {
        job["job_name"]: {t for static in job["static_configs"] for t in static["targets"]}
        for job in config["scrape_configs"]
    }
    assert targets["aiwfe-api"] == {"127.0.0.1:18001", "127.0.0.1:18002"}
    assert targets["aiwfe-worker"] == {"127.0.0.1:19101"}
    assert targets["caddy"] == {"127.0.0.1:12019"}
    assert targets["postgres"] == {"127.0.0.1:9187"}
    assert targets["redis"] == {"127.0.0.1:9121"}
    assert targets["node"] == {"127.0.0.1:9100"}
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:9093"]
    assert config["rule_files"] == ["rules/*.yml"]


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=_ids(RULE_FILES))
def test_rule_file_passes_promtool_check(prometheus_tools: dict[str, str], rule_file: Path) -> None:
    result = _run(prometheus_tools["promtool"], "check", "rules", str(rule_file))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("test_file", RULE_TESTS, ids=_ids(RULE_TESTS))
def test_rule_unit_tests_pass(prometheus_tools: dict[str, str], test_file: Path) -> None:
    result = _run(prometheus_tools["promtool"], "test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout + result.stderr


AGGREGATION = re.compile(
    r"\b(sum|max|min|avg|count|topk|bottomk|quantile)\s*(by|without)?\s*(\([^()]*\))?\s*\("
)
# Rule files that never run on Kubernetes (a rules-kubernetes/ file of the same name replaces them there).
HOST_ONLY = {path.name for path in (PROMETHEUS / "rules-kubernetes").glob("*.yml")}


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=[f"{p.parent.name}/{p.name}" for p in RULE_FILES])
def test_kubernetes_rules_keep_namespaces_apart(rule_file: Path) -> None:
    """Staging and production share one Prometheus and one set of job names: an aggregation that drops
    `namespace` lets a healthy staging hide a production outage (and mixes their ratios)."""
    if rule_file.parent.name == "rules" and rule_file.name in HOST_ONLY:
        pytest.skip(f"{rule_file.name} runs only on the local stack and compose")
    dropping = []
    for group in _load_yaml(rule_file)["groups"]:
        for rule in group["rules"]:
            for match in AGGREGATION.finditer(rule["expr"]):
                grouping, labels = match.group(2), match.group(3) or ""
                keeps = grouping == "without" and "namespace" not in labels
                keeps = keeps or (grouping == "by" and "namespace" in labels)
                if not keeps:
                    dropping.append(f"{rule.get('alert') or rule.get('record')}: {match.group(0)}")
    assert dropping == [], f"aggregations without namespace in {rule_file.name}: {dropping}"


THRESHOLD = re.compile(r"(?<![=!<>])[<>]=?\s*(\(\s*[\d.]+(?:\s*\*\s*[\d.]+)*\s*\)|[\d.]+(?:\s*\*\s*[\d.]+)*)")


def _threshold_mutations() -> list[tuple[Path, int, int, str, str]]:
    """(rule file, group, rule, original expr, mutated expr): each alert threshold moved a little both ways
    (small integers by 1, others by 10%)."""
    found = []
    for rule_file in RULE_FILES:
        for g, group in enumerate(_load_yaml(rule_file)["groups"]):
            for r, rule in enumerate(group["rules"]):
                if "alert" not in rule:
                    continue
                for match in THRESHOLD.finditer(rule["expr"]):
                    value = 1.0
                    for factor in re.findall(r"[\d.]+", match.group(1)):
                        value *= float(factor)
                    small = value.is_integer() and abs(value) < 10
                    for moved in (value - 1, value + 1) if small else (value * 0.9, value * 1.1):
                        mutated = rule["expr"][: match.start(1)] + repr(moved) + rule["expr"][match.end(1) :]
                        found.append(
                            (rule_file, g, r, f"{rule['alert']}:{match.group(1).strip()}->{moved:g}", mutated)
                        )
    return found


MUTATIONS = _threshold_mutations()


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[f"{m[0].parent.name}/{m[3]}" for m in MUTATIONS])
def test_moving_any_alert_threshold_fails_a_rule_test(
    prometheus_tools: dict[str, str], tmp_path: Path, mutation: tuple[Path, int, int, str, str]
) -> None:
    """Each threshold is pinned from both sides: a test just above it fires, one just below stays silent."""
    rule_file, g, r, alert, mutated = mutation
    copy = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS, copy)
    rules = _load_yaml(rule_file)
    rules["groups"][g]["rules"][r]["expr"] = mutated
    (copy / rule_file.parent.name / rule_file.name).write_text(yaml.safe_dump(rules))
    test_file = copy / RULE_DIRS[rule_file.parent.name] / f"{rule_file.stem}.test.yml"
    result = _run(prometheus_tools["promtool"], "test", "rules", str(test_file))
    assert result.returncode != 0, f"{alert}: no rule test notices the threshold moved to: {mutated}"


def test_brief_alerts_exist() -> None:
    briefed = {
        "PodRestartingOften", "ContainerMemoryHigh", "NodeMemoryHigh", "ApiResponseTimeHigh",
        "CeleryQueueBacklog", "TLSCertificateExpiringSoon", "ApiAvailabilityErrorBudgetBurn",
        "ApiLatencyErrorBudgetBurn", "ApiErrorRateHigh", "ApiDown", "WorkerDown", "BeatDown",
        "PostgresDown", "PostgresTooManyConnections", "PostgresWalArchivingFailing",
        "PostgresWalArchiveStale", "BackupTooOld", "RedisDown", "RedisMemoryHigh",
        "RedisRejectedConnections", "WorkerHeartbeatStale", "RemindersLagging",
    }  # fmt: skip
    assert briefed - _alert_names() == set()


def test_every_alert_has_severity_summary_description_and_runbook() -> None:
    problems = []
    for rule in _alerts():
        name = rule["alert"]
        if rule.get("labels", {}).get("severity") not in {"critical", "warning"}:
            problems.append(f"{name}: severity must be critical or warning")
        annotations = rule.get("annotations", {})
        problems += [f"{name}: no {key}" for key in ("summary", "description") if not annotations.get(key)]
        if annotations.get("runbook_url") != RUNBOOK_URL.format(name):
            problems.append(f"{name}: runbook_url must be {RUNBOOK_URL.format(name)}")
        if not (RUNBOOKS / f"{name}.md").is_file():
            problems.append(f"{name}: docs/runbooks/{name}.md is missing")
    assert problems == []


def test_every_alert_is_unit_tested_firing_and_silent() -> None:
    fires: set[str] = set()
    silent: set[str] = set()
    for path in RULE_TESTS:
        for case in _load_yaml(path)["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check.get("exp_alerts") else silent).add(check["alertname"])
    alerts = _alert_names()
    assert sorted(alerts - fires) == [], "alerts without a test where they fire"
    assert sorted(alerts - silent) == [], "alerts without a test where they stay silent"


def test_firing_cases_assert_labels_and_annotations() -> None:
    incomplete = [
        f"{path.name}: {case['name']}"
        for path in RULE_TESTS
        for case in _load_yaml(path)["tests"]
        for check in case.get("alert_rule_test", [])
        for expected in check.get("exp_alerts") or []
        if not expected.get("exp_labels", {}).get("severity")
        or set(expected.get("exp_annotations", {})) != {"summary", "description", "runbook_url"}
    ]
    assert incomplete == []


def test_rules_and_dashboards_name_only_metrics_the_app_exposes() -> None:
    assert {"aiwfe_http_requests_total", "aiwfe_celery_queue_length", "aiwfe_db_pool_size"} <= APP_METRICS
    texts = [path.read_text() for path in RULE_FILES] + [expr for _, _, expr in _dashboard_exprs()]
    named = {name for text in texts for name in re.findall(r"\baiwfe_[a-z0-9_]+", text)}
    assert named - APP_METRICS == set(), "rules or dashboards read aiwfe_* series nothing in src/ exports"


# ---- Alertmanager -------------------------------------------------------------------------------


def test_alertmanager_config_passes_amtool(prometheus_tools: dict[str, str]) -> None:
    result = _run(prometheus_tools["amtool"], "check-config", str(ALERTMANAGER_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("severity", "receiver"), [("critical", "pager"), ("warning", "team-email")], ids=["critical", "warning"]
)
def test_alertmanager_routes_by_severity(
    prometheus_tools: dict[str, str], severity: str, receiver: str
) -> None:
    result = _run(
        prometheus_tools["amtool"],
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER_CONFIG}",
        f"--verify.receivers={receiver}",
        f"severity={severity}",
        "alertname=ApiDown",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_kubernetes_alertmanager_has_configurable_receivers_with_the_shared_routing(
    prometheus_tools: dict[str, str], tmp_path: Path
) -> None:
    app = _load_yaml(ROOT / "k8s/argocd/apps/kube-prometheus-stack.yaml")
    values = app["spec"]["source"]["helm"]["valuesObject"]["alertmanager"]
    config, shared = values["config"], _load_yaml(ALERTMANAGER_CONFIG)
    assert config["route"] == shared["route"]
    assert config["inhibit_rules"] == shared["inhibit_rules"]
    assert [r["name"] for r in config["receivers"]] == [r["name"] for r in shared["receivers"]]
    assert "namespace" in config["route"]["group_by"], (
        "staging and production alerts would be grouped together"
    )
    # Secrets are files of a mounted Secret, never values.
    (secret,) = values["alertmanagerSpec"]["secrets"]
    files = re.findall(r"_file: (\S+)", yaml.safe_dump(config))
    assert files
    assert all(path.startswith(f"/etc/alertmanager/secrets/{secret}/") for path in files), files
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    result = _run(prometheus_tools["amtool"], "check-config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_alertmanager_keeps_secrets_in_files() -> None:
    secret_key = re.compile(r"(password|secret|token|credentials|api_key|routing_key|service_key)$")
    found = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if secret_key.search(str(key)):
                    found.append(f"{path}.{key}")
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{path}[{index}]")

    config = _load_yaml(ALERTMANAGER_CONFIG)
    walk(config, "")
    assert found == []
    assert config["global"]["smtp_auth_password_file"].startswith("/")


@pytest.fixture
def alertmanager(prometheus_tools: dict[str, str]) -> Iterator[str]:
    """A real Alertmanager with our config on a free loopback port; yields its base URL."""
    (port,) = free_ports(1)
    with tempfile.TemporaryDirectory(prefix="aiwfe-alertmanager-") as storage:
        process = subprocess.Popen(
            [
                prometheus_tools["prometheus-alertmanager"],
                f"--config.file={ALERTMANAGER_CONFIG}",
                f"--storage.path={storage}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert process.poll() is None, "alertmanager exited at start"
                time.sleep(0.2)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


def _post_alerts(url: str, *labelsets: dict[str, str]) -> None:
    body = [{"labels": labels, "annotations": {"summary": "test"}} for labels in labelsets]
    httpx.post(f"{url}/api/v2/alerts", json=body, timeout=5).raise_for_status()


def _inhibition(url: str, want: dict[tuple[str, str], bool]) -> dict[tuple[str, str], bool]:
    """{(alertname, severity): inhibited}, polled until it equals ``want`` or 15 s have passed."""
    deadline = time.monotonic() + 15
    while True:
        alerts = httpx.get(f"{url}/api/v2/alerts", timeout=5).json()
        state = {
            (a["labels"]["alertname"], a["labels"]["severity"]): bool(a["status"]["inhibitedBy"])
            for a in alerts
        }
        if state == want or time.monotonic() > deadline:
            return state
        time.sleep(0.3)


def test_alertmanager_inhibits_symptoms_of_a_down_component_and_duplicate_warnings(alertmanager: str) -> None:
    api = {"service": "api", "environment": "test"}
    _post_alerts(
        alertmanager,
        {"alertname": "ApiDown", "severity": "critical", **api},
        {"alertname": "ApiResponseTimeHigh", "severity": "critical", **api},
        {"alertname": "ApiLatencyErrorBudgetBurn", "severity": "warning", **api},
        {"alertname": "RedisMemoryHigh", "severity": "warning", "service": "redis", "environment": "test"},
        {"alertname": "PostgresTooManyConnections", "severity": "critical", "service": "postgres"},
        {"alertname": "PostgresTooManyConnections", "severity": "warning", "service": "postgres"},
    )
    want = {
        ("ApiDown", "critical"): False,
        ("ApiResponseTimeHigh", "critical"): True,
        ("ApiLatencyErrorBudgetBurn", "warning"): True,
        ("RedisMemoryHigh", "warning"): False,
        ("PostgresTooManyConnections", "critical"): False,
        ("PostgresTooManyConnections", "warning"): True,
    }
    assert _inhibition(alertmanager, want) == want


# ---- Grafana ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=_ids(DASHBOARDS))
def test_dashboard_is_provisionable_json(dashboard: Path) -> None:
    model = json.loads(dashboard.read_text())
    assert model["uid"].startswith("aiwfe-")
    assert "aiwfe" in model["tags"]
    queried = [panel for panel in model["panels"] if panel["type"] != "row"]
    assert queried, "no panels"
    assert all(panel["datasource"]["uid"] == "${datasource}" for panel in queried)
    assert all(target["expr"].strip() for panel in queried for target in panel["targets"])


def test_dashboards_cover_the_briefed_views() -> None:
    uids = [json.loads(path.read_text())["uid"] for path in DASHBOARDS]
    assert len(uids) == len(set(uids)), "dashboard uids must be unique"
    expected = {"aiwfe-api-red", "aiwfe-slo", "aiwfe-worker", "aiwfe-postgres", "aiwfe-redis", "aiwfe-caddy"}
    assert expected - set(uids) == set()


def test_every_dashboard_query_is_valid_promql(prometheus_tools: dict[str, str], tmp_path: Path) -> None:
    exprs = _dashboard_exprs()
    rules = {
        "groups": [
            {
                "name": "dashboards",
                "rules": [
                    {"record": f"dashboard:query_{index}", "expr": _without_grafana_variables(expr)}
                    for index, (_, _, expr) in enumerate(exprs)
                ],
            }
        ]
    }
    rule_file = tmp_path / "dashboard-queries.yml"
    rule_file.write_text(yaml.safe_dump(rules))
    result = _run(prometheus_tools["promtool"], "check", "rules", str(rule_file))
    where = "\n".join(f"dashboard:query_{i} = {d} / {t}" for i, (d, t, _) in enumerate(exprs))
    assert result.returncode == 0, f"{result.stdout}{result.stderr}\n{where}"
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout


def test_grafana_datasources_link_log_trace_ids_to_traces() -> None:
    provisioning = MONITORING / "grafana" / "provisioning"
    datasources = {
        ds["uid"]: ds
        for path in sorted((provisioning / "datasources").glob("*.yml"))
        for ds in _load_yaml(path)["datasources"]
    }
    assert {datasources["prometheus"]["type"], datasources["loki"]["type"]} == {"prometheus", "loki"}
    (derived,) = [f for f in datasources["loki"]["jsonData"]["derivedFields"] if f["name"] == "trace_id"]
    assert derived["datasourceUid"] in datasources
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    line = json.dumps({"event": "request", "level": "info", "trace_id": trace_id, "request_id": "r1"})
    match = re.search(derived["matcherRegex"], line)
    assert match is not None
    assert match.group(1) == trace_id
    (provider,) = _load_yaml(provisioning / "dashboards" / "aiwfe.yml")["providers"]
    assert provider["type"] == "file"


# ---- Loki and Promtail --------------------------------------------------------------------------


def test_loki_keeps_application_logs_30_days_and_debug_logs_7_days() -> None:
    config = _load_yaml(MONITORING / "loki" / "loki.yml")
    assert config["compactor"]["retention_enabled"] is True
    limits = config["limits_config"]
    assert limits["retention_period"] == "720h"
    assert [(s["selector"], s["period"]) for s in limits["retention_stream"]] == [('{level="debug"}', "168h")]


ALLOY_CONFIGS = {
    "local stack": (MONITORING / "alloy" / "local.alloy").read_text(),
    "compose": (ROOT / "compose" / "alloy" / "config.alloy").read_text(),
    "kubernetes": _load_yaml(ROOT / "k8s/argocd/apps/alloy.yaml")["spec"]["source"]["helm"]["valuesObject"][
        "alloy"
    ]["configMap"]["content"],
}
LOKI_PUSH = {
    "local stack": "http://127.0.0.1:3100/loki/api/v1/push",
    "compose": "http://loki:3100/loki/api/v1/push",
    "kubernetes": "http://loki.aiwfe-monitoring.svc:3100/loki/api/v1/push",
}


@pytest.mark.parametrize("runtime", sorted(ALLOY_CONFIGS))
def test_alloy_ships_every_runtimes_logs_with_the_labels_retention_needs(runtime: str) -> None:
    """Grafana Alloy on every runtime (Promtail is end of life): the same labels everywhere, so Loki's
    retention selector ({level="debug"}: 7 days) and the dashboards' queries work on each. Checked by
    structure only: the alloy binary is not available here (`alloy fmt`/`validate` would need it)."""
    config = ALLOY_CONFIGS[runtime]
    assert config.count("{") == config.count("}"), "unbalanced blocks"
    assert re.search(r'loki\.write "\w+" \{\s*endpoint \{\s*url = "([^"]+)"', config)[1] == LOKI_PUSH[runtime]
    assert re.search(r'"job"\s*=\s*"aiwfe"|target_label\s*=\s*"job"\s*replacement\s*=\s*"aiwfe"', config)
    for field in ("level", "request_id", "trace_id", "span_id", "service"):
        assert re.search(rf'\b{field}\s*=\s*"{field}"', config), f"{runtime}: {field} is not parsed"
    # level becomes a label (retention), the request ids structured metadata (one value per request).
    assert re.search(r'stage\.labels \{\s*values = \{level = ""\}', config), runtime
    assert re.search(r"stage\.structured_metadata \{\s*values = \{[^}]*request_id", config), runtime
    shared = _load_yaml(MONITORING / "loki" / "loki.yml")["limits_config"]["retention_stream"]
    assert [s["selector"] for s in shared] == ['{level="debug"}']


def test_no_runtime_still_runs_promtail() -> None:
    services = _load_yaml(ROOT / "docker-compose.yml")["services"]
    assert not [name for name, s in services.items() if "promtail" in str(s.get("image", ""))]
    apps = [_load_yaml(p)["spec"] for p in (ROOT / "k8s/argocd/apps").glob("*.yaml")]
    charts = [app.get("source", {}).get("chart", "") for app in apps]
    assert "promtail" not in charts
    assert "alloy" in charts
    assert "alloy" in services
    assert not (MONITORING / "loki" / "promtail.yml").exists()


# ---- Runbooks -----------------------------------------------------------------------------------


def test_every_runbook_explains_meaning_impact_diagnosis_fix_and_verification() -> None:
    sections = ("## Meaning", "## Impact", "## Diagnose", "## Fix", "## Verify")
    incomplete = {
        name: [s for s in sections if s not in (RUNBOOKS / f"{name}.md").read_text()]
        for name in sorted(_alert_names())
        if (RUNBOOKS / f"{name}.md").is_file()
    }
    assert {name: missing for name, missing in incomplete.items() if missing} == {}


def test_runbook_index_lists_every_alert_and_no_stale_runbook() -> None:
    index = (RUNBOOKS / "README.md").read_text()
    alerts = _alert_names()
    assert sorted(name for name in alerts if f"]({name}.md)" not in index) == []
    runbooks = {path.stem for path in RUNBOOKS.glob("*.md")} - {"README"}
    assert sorted(runbooks - alerts - PROCEDURES) == []
    assert sorted(name for name in PROCEDURES if f"]({name}.md)" not in index) == []
