"""The whole local stack under supervisord, in a temp folder on free ports: the `make up` path."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from tests.stacks import running_stack, stack_env, stack_settings

from aiwfe_stack.settings import DB_NAME, DB_USER, StackError
from aiwfe_stack.stack import Stack

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def stack(system_packages: None) -> Iterator[Stack]:
    with running_stack(
        "aiwfe-test-stack-", hsts_max_age=600, monitoring=True, scrape_interval="2s"
    ) as running:
        yield running


def _api_log_lines(stack: Stack, marker: str, expected: int = 1) -> dict[str, list[str]]:
    """Each replica's log lines containing ``marker``, waiting for supervisord to write them."""
    deadline = time.monotonic() + 10
    while True:
        found = {
            name: [
                line for line in (stack.paths.logs / f"{name}.log").read_text().splitlines() if marker in line
            ]
            for name in ("api-1", "api-2")
        }
        if sum(len(lines) for lines in found.values()) >= expected or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def _https(stack: Stack) -> httpx.Client:
    return httpx.Client(
        base_url=f"https://localhost:{stack.settings.https_port}", verify=stack.ca_context(), timeout=10
    )


def test_ready_through_caddy_https_shows_every_part_healthy(stack: Stack) -> None:
    status, body = stack.ready_report()
    assert status == 200
    assert body["status"] == "ok"
    checks = body["checks"]
    assert isinstance(checks, dict)
    assert sorted(checks) == ["beat", "migrations", "postgres", "redis", "worker"]
    # The public answer says ok or failed, nothing more: details stay in the API's log and its own port.
    assert all(check == {"status": "ok"} for check in checks.values())


def test_every_process_runs_under_the_supervisor(stack: Stack) -> None:
    states = stack.process_status()
    assert sorted(states) == [
        "alertmanager",
        "api-1",
        "api-2",
        "beat",
        "blackbox-exporter",
        "caddy",
        "node-exporter",
        "postgres",
        "postgres-exporter",
        "prometheus",
        "redis",
        "redis-exporter",
        "smtp-sink",
        "worker",
    ]
    assert all(state.startswith("RUNNING") for state in states.values()), states


def test_caddy_round_robins_across_both_api_replicas(stack: Stack) -> None:
    # A replica that was still starting when Caddy first probed it is out of rotation until the next
    # active health check (2 s), so keep sending batches for a while before judging the spread.
    deadline = time.monotonic() + 20
    batch = 0
    with _https(stack) as http:
        while True:
            for i in range(12):
                assert http.get("/api/v1", headers={"X-Request-ID": f"rr-{batch}-{i}"}).status_code == 200
            seen = {
                name: len(lines)
                for name, lines in _api_log_lines(stack, f'"request_id": "rr-{batch}-', 12).items()
            }
            if min(seen.values()) >= 3 or time.monotonic() > deadline:
                break
            batch += 1
            time.sleep(1)
    assert seen["api-1"] >= 3, seen
    assert seen["api-2"] >= 3, seen
    assert seen["api-1"] + seen["api-2"] == 12


def test_api_log_lines_are_json_with_request_and_trace_ids(stack: Stack) -> None:
    with _https(stack) as http:
        http.get("/api/v1", headers={"X-Request-ID": "log-shape-1"})
    found = _api_log_lines(stack, "log-shape-1")
    record = json.loads((found["api-1"] + found["api-2"])[0])
    assert {"timestamp", "level", "logger", "event", "request_id", "trace_id"} <= record.keys()
    assert record["request_id"] == "log-shape-1"
    assert len(record["trace_id"]) == 32


def test_security_headers_hsts_only_on_https_and_metrics_not_public(stack: Stack) -> None:
    with _https(stack) as http:
        page = http.get("/")
        assert page.status_code == 200
        assert "aiwfe" in page.text
        assert page.headers["strict-transport-security"] == "max-age=600"
        assert page.headers["x-content-type-options"] == "nosniff"
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert http.get("/metrics").status_code == 404
        echoed = http.get("/health", headers={"X-Request-ID": "through-caddy"})
        assert echoed.headers["x-request-id"] == "through-caddy"
    plain = httpx.get(f"http://localhost:{stack.settings.http_port}/health", timeout=10)
    assert plain.status_code == 200
    assert "strict-transport-security" not in plain.headers


def test_killing_an_api_replica_keeps_requests_answered_and_the_supervisor_restarts_it(stack: Stack) -> None:
    victim = stack.program_pid("api-1")
    assert victim
    os.kill(victim, signal.SIGKILL)
    failures = 0
    with _https(stack) as http:
        for _ in range(40):
            if http.get("/api/v1").status_code != 200:
                failures += 1
            time.sleep(0.05)
    assert failures == 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pid = stack.program_pid("api-1")
        if pid and pid != victim and stack.process_status()["api-1"].startswith("RUNNING"):
            break
        time.sleep(0.5)
    else:
        pytest.fail("the supervisor did not bring api-1 back")


def test_up_twice_says_the_stack_is_running_and_starts_no_second_copy(stack: Stack, aiwfe_bin: str) -> None:
    with pytest.raises(StackError, match="already-running"):
        stack.start()
    result = subprocess.run(
        [aiwfe_bin, "up"], env=stack_env(stack.settings), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert "already running" in result.stdout
    status = subprocess.run(
        [aiwfe_bin, "status"], env=stack_env(stack.settings), capture_output=True, text=True, timeout=60
    )
    assert status.returncode == 0, status.stdout + status.stderr
    assert "migrations" in status.stdout
    assert "latency_ms=" in status.stdout  # details from a replica asked directly, not the public answer


def test_a_taken_port_is_named_with_the_variable_that_moves_it(tmp_path: Path) -> None:
    settings = stack_settings(tmp_path / "other")
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", settings.https_port))
        blocker.listen()
        with pytest.raises(StackError) as info:
            Stack(settings).start()
    message = str(info.value)
    assert f"port {settings.https_port} (https)" in message
    assert "AIWFE_STACK_HTTPS_PORT" in message
    assert not (tmp_path / "other" / "data").exists()  # refused before touching anything


def test_data_survives_down_and_up(stack: Stack) -> None:
    dsn = (
        f"postgresql://{DB_USER}:{stack.secrets()['postgres_app']}@127.0.0.1:"
        f"{stack.settings.postgres_port}/{DB_NAME}"
    )

    async def write() -> int:
        conn = await asyncpg.connect(dsn)
        try:
            return int(await conn.fetchval("INSERT INTO ops_canary (source) VALUES ('survive') RETURNING id"))
        finally:
            await conn.close()

    async def read(row_id: int) -> str | None:
        conn = await asyncpg.connect(dsn)
        try:
            value = await conn.fetchval("SELECT source FROM ops_canary WHERE id = $1", row_id)
            return str(value) if value is not None else None
        finally:
            await conn.close()

    row_id = asyncio.run(write())
    assert stack.stop() is True
    assert not stack.is_running()
    stack.start(timeout=180)
    assert asyncio.run(read(row_id)) == "survive"


def test_sign_up_through_the_stack_mails_a_verification_link_to_the_sink(stack: Stack) -> None:
    with _https(stack) as http:
        response = http.post(
            "/api/v1/auth/register", json={"email": "new@example.com", "password": "a long stack passphrase"}
        )
    assert response.status_code == 201, response.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        mails = [p.read_text() for p in stack.paths.mail.glob("*.eml")]
        if any("new@example.com" in mail for mail in mails):
            break
        time.sleep(0.5)
    else:
        pytest.fail("no verification mail reached the stack's SMTP sink")
    assert any(f"https://localhost:{stack.settings.https_port}/verify-email?token=" in m for m in mails)


def test_backup_and_restore_drill_commands_work_on_the_stack(
    stack: Stack, aiwfe_bin: str, tmp_path: Path
) -> None:
    env = stack_env(stack.settings)
    backup = subprocess.run(
        [aiwfe_bin, "backup", "now"], env=env, capture_output=True, text=True, timeout=300
    )
    assert backup.returncode == 0, backup.stdout + backup.stderr
    listed = subprocess.run(
        [aiwfe_bin, "backup", "list"], env=env, capture_output=True, text=True, timeout=60
    )
    assert "full" in listed.stdout
    worker_metrics = httpx.get(
        f"http://127.0.0.1:{stack.settings.worker_metrics_port}/metrics", timeout=5
    ).text
    assert "aiwfe_backup_last_success_timestamp_seconds" in worker_metrics
    drill = subprocess.run(
        [aiwfe_bin, "restore-drill", "--report-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert drill.returncode == 0, drill.stdout + drill.stderr
    report = json.loads(next(tmp_path.glob("restore-drill-*.json")).read_text())
    assert report["ok"] is True
    assert {c["name"] for c in report["checks"]} >= {"migration version", "canary checksum", "read and write"}
    assert next(tmp_path.glob("restore-drill-*.md")).read_text().startswith("# Restore drill — PASSED")
    bad = subprocess.run(
        [aiwfe_bin, "restore-drill", "--target-time", "yesterday"], env=env, capture_output=True, text=True
    )
    assert bad.returncode == 2
    assert "ISO 8601" in bad.stdout


def test_sessions_and_queued_tasks_survive_a_redis_restart(stack: Stack) -> None:
    from aiwfe.core.settings import Settings
    from aiwfe.worker.app import create_celery
    from aiwfe.worker.tasks import ping

    with _https(stack) as http:
        account = {"email": "durable@example.com", "password": "persistent stack phrase 7"}
        http.post("/api/v1/auth/register", json=account)
        login = http.post("/api/v1/auth/login", json={**account, "mode": "token"})
        token = login.json()["session_token"]
        assert stack.supervisorctl("stop", "worker").returncode == 0
        celery = create_celery(Settings(redis_url=stack.app_env()["AIWFE_REDIS_URL"]))
        queued = celery.send_task(ping.name, kwargs={"payload": "survivor"})
        restarted = stack.supervisorctl("restart", "redis")
        assert restarted.returncode == 0, restarted.stdout
        stack.redis().wait_ready()
        me = http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        assert me.json()["email"] == "durable@example.com"
        assert stack.supervisorctl("start", "worker").returncode == 0
        assert queued.get(timeout=60)["pong"] == "survivor"


# ---- monitoring (the stack runs with AIWFE_STACK_MONITORING) ------------------------------------

# Metrics that only exist elsewhere: Kubernetes (kube-state-metrics, cAdvisor). Everything else a rule
# or panel names must exist here.
NOT_IN_LOCAL_STACK = re.compile(r"^(kube_|container_)")
METRIC_PREFIXES = re.compile(r"^(aiwfe[_:]|pg_|redis_|node_|caddy_|probe_|process_|kube_|container_)")


def _metric_names(expr: str) -> set[str]:
    without_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    return {t for t in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", without_strings) if METRIC_PREFIXES.match(t)}


def _prometheus(stack: Stack, path: str, **params: str) -> dict[str, Any]:
    response = httpx.get(
        f"http://127.0.0.1:{stack.settings.prometheus_port}/api/v1/{path}", params=params, timeout=10
    )
    body: dict[str, Any] = response.json()
    return body


def _wait_until_scraped(stack: Stack) -> list[dict[str, Any]]:
    """Generate a little of every kind of traffic, then wait until Prometheus has scraped it."""
    from aiwfe.core.settings import Settings
    from aiwfe.worker.app import create_celery
    from aiwfe.worker.tasks import ping

    with _https(stack) as http:
        for _ in range(20):
            http.get("/api/v1")
            http.get("/api/v1/nothing")
    celery = create_celery(Settings(redis_url=stack.app_env()["AIWFE_REDIS_URL"]))
    celery.send_task(ping.name, kwargs={"payload": "scrape-me"}).get(timeout=60)
    deadline = time.monotonic() + 90
    while True:
        targets = _prometheus(stack, "targets")["data"]["activeTargets"]
        tasks_seen = _prometheus(stack, "query", query="aiwfe_celery_tasks_total")["data"]["result"]
        if targets and tasks_seen and all(t["health"] == "up" for t in targets):
            return list(targets)
        if time.monotonic() > deadline:
            return list(targets)
        time.sleep(1)


def test_prometheus_scrapes_every_target_the_stack_runs(stack: Stack) -> None:
    targets = _wait_until_scraped(stack)
    health = {(t["labels"]["job"], t["labels"]["instance"]): t["health"] for t in targets}
    assert {job for job, _ in health} == {
        "aiwfe-api",
        "aiwfe-worker",
        "caddy",
        "postgres",
        "redis",
        "node",
        "tls-certificates",
    }
    assert [key for key, state in health.items() if state != "up"] == []
    expiry = _prometheus(stack, "query", query="probe_ssl_earliest_cert_expiry")["data"]["result"]
    assert expiry
    assert float(expiry[0]["value"][1]) > time.time()


def test_every_alert_and_dashboard_query_runs_against_live_metrics(stack: Stack) -> None:
    from tests.deploy.test_monitoring import _alerts, _dashboard_exprs, _without_grafana_variables

    _wait_until_scraped(stack)
    time.sleep(6)  # a few evaluation rounds, so recording rules have series too
    known = set(_prometheus(stack, "label/__name__/values")["data"])
    queries = [(rule["alert"], rule["expr"]) for rule in _alerts()]
    queries += [
        (f"{board}: {title}", _without_grafana_variables(expr)) for board, title, expr in _dashboard_exprs()
    ]
    failed: list[str] = []
    unknown: set[str] = set()
    with_data = 0
    for name, expr in queries:
        answer = _prometheus(stack, "query", query=expr)
        if answer.get("status") != "success":
            failed.append(f"{name}: {answer.get('error')}")
            continue
        with_data += bool(answer["data"]["result"])
        unknown |= {m for m in _metric_names(expr) if m not in known and not NOT_IN_LOCAL_STACK.match(m)}
    assert failed == []
    assert sorted(unknown) == []
    assert with_data > len(queries) // 2, f"only {with_data} of {len(queries)} queries returned data"


def test_one_trace_id_links_the_api_request_and_the_task_it_enqueued(stack: Stack) -> None:
    with _https(stack) as http:
        response = http.post(
            "/api/v1/auth/register",
            json={"email": "traced@example.com", "password": "follow this request id"},
            headers={"X-Request-ID": "trace-me-1"},
        )
    assert response.status_code == 201, response.text
    found = _api_log_lines(stack, '"request_id": "trace-me-1"')
    api_line = json.loads((found["api-1"] + found["api-2"])[0])
    deadline = time.monotonic() + 30
    task_lines: list[dict[str, Any]] = []
    while not task_lines and time.monotonic() < deadline:
        lines = (stack.paths.logs / "worker.log").read_text().splitlines()
        task_lines = [json.loads(line) for line in lines if '"email_sent"' in line and "trace-me-1" in line]
        time.sleep(0.5)
    assert task_lines, "the email task's log line with the request id is missing"
    assert task_lines[0]["trace_id"] == api_line["trace_id"]


def test_dashboard_snapshots_are_drawn_from_live_prometheus_data(
    stack: Stack, aiwfe_bin: str, tmp_path: Path
) -> None:
    _wait_until_scraped(stack)
    result = subprocess.run(
        [aiwfe_bin, "dashboard-snapshot", "--out", str(tmp_path), "--minutes", "5"],
        env=stack_env(stack.settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    pngs = sorted(tmp_path.glob("*.png"))
    assert {p.stem for p in pngs} >= {
        "api-requests",
        "api-latency-p95",
        "queue-depth",
        "postgres-connections",
    }
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert "api-requests.png  (0 series" not in result.stdout  # the request panel has data
