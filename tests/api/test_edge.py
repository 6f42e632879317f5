"""The edge as deployed, through a whole local stack: Caddy in front of two API replicas. The client's
address cannot be forged with X-Forwarded-For, bodies over the limits are refused with a 413 problem,
and secrets in URLs (feed tokens, one-time links) never reach the access logs of Caddy or the API."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.stacks import running_stack

from aiwfe_stack.stack import Stack

pytestmark = pytest.mark.stack
MIB = 1024 * 1024
CADDY_LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def stack(system_packages: None) -> Iterator[Stack]:
    # Caddy's body limit below the API's (1 MiB), so a body between the two shows which one answered.
    with running_stack("aiwfe-test-edge-", caddy_max_body=CADDY_LIMIT) as running:
        yield running


def _https(stack: Stack) -> httpx.Client:
    return httpx.Client(
        base_url=f"https://localhost:{stack.settings.https_port}", verify=stack.ca_context(), timeout=20
    )


def _log_lines(path: Path, marker: str, expected: int = 1) -> list[str]:
    """Lines of ``path`` holding ``marker``, waiting a little for the writer to flush them."""
    deadline = time.monotonic() + 10
    while True:
        lines = [line for line in path.read_text().splitlines() if marker in line]
        if len(lines) >= expected or time.monotonic() > deadline:
            return lines
        time.sleep(0.2)


def _api_lines(stack: Stack, marker: str) -> list[dict[str, object]]:
    deadline = time.monotonic() + 10
    while True:
        found = [
            json.loads(line[line.index("{") :])
            for name in ("api-1", "api-2")
            for line in (stack.paths.logs / f"{name}.log").read_text().splitlines()
            if marker in line and "{" in line
        ]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_a_forged_x_forwarded_for_does_not_become_the_client_address(stack: Stack) -> None:
    request_id = uuid.uuid4().hex
    with _https(stack) as http:
        response = http.get(
            "/api/v1", headers={"X-Forwarded-For": "203.0.113.9, 198.51.100.7", "X-Request-ID": request_id}
        )
    assert response.status_code == 200
    (line,) = [entry for entry in _api_lines(stack, request_id) if entry.get("event") == "request"]
    assert line["client"] == "127.0.0.1"
    (edge,) = _log_lines(stack.paths.logs / "caddy.log", request_id)
    assert json.loads(edge[edge.index("{") :])["request"]["client_ip"] == "127.0.0.1"


def _assert_413(response: httpx.Response) -> dict[str, object]:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, object] = response.json()
    assert problem["status"] == 413
    assert str(problem["type"]).endswith("/payload-too-large")
    return problem


def test_a_declared_body_over_caddys_limit_is_a_413_problem_from_caddy_and_every_replica_stays(
    stack: Stack,
) -> None:
    # Under the API's limit: only Caddy refuses it (the API would read it and answer 422).
    body = b'{"email": "' + b"a" * (2 * CADDY_LIMIT) + b'"}'
    with _https(stack) as http:
        response = http.post(
            "/api/v1/auth/register", content=body, headers={"Content-Type": "application/json"}
        )
        assert "larger than this server accepts" in str(_assert_413(response)["detail"])
        # Refusing a body must not count against the replicas (no 503 for the requests after it).
        assert [http.get("/api/v1").status_code for _ in range(4)] == [200] * 4


def test_a_streamed_body_over_the_apis_limit_is_a_413_problem_and_every_replica_stays(stack: Stack) -> None:
    body = b'{"email": "' + b"a" * (2 * MIB) + b'"}'
    with _https(stack) as http:
        response = http.post(
            "/api/v1/auth/register",
            content=iter([body[start : start + 65536] for start in range(0, len(body), 65536)]),
            headers={"Content-Type": "application/json"},
        )
        assert "content-length" not in response.request.headers
        assert "larger than 1048576 bytes" in str(_assert_413(response)["detail"])
        assert [http.get("/api/v1").status_code for _ in range(4)] == [200] * 4


def test_an_ics_upload_may_be_larger_than_a_json_body(stack: Stack) -> None:
    with _https(stack) as http:
        response = http.post(
            f"/api/v1/calendars/{uuid.uuid4()}/import",
            content=b"x" * (2 * MIB),
            headers={"Content-Type": "text/calendar"},
        )
    # Past both body limits, it reaches the API, which wants a signed-in caller.
    assert response.status_code == 401, response.text


def test_tokens_in_urls_and_referers_are_redacted_in_the_access_logs(stack: Stack) -> None:
    secret, feed = f"reset{uuid.uuid4().hex}", f"feed{uuid.uuid4().hex}"
    marker = uuid.uuid4().hex
    with _https(stack) as http:
        http.get(f"/reset-password?token={secret}&x=1", headers={"X-Request-ID": f"{marker}-page"})
        http.get(
            "/api/v1",
            headers={
                "Referer": f"https://localhost/verify-email?token={secret}",
                "X-Request-ID": f"{marker}-referer",
            },
        )
        http.get(f"/api/v1/feeds/{feed}.ics", headers={"X-Request-ID": f"{marker}-feed"})
    caddy_lines = _log_lines(stack.paths.logs / "caddy.log", marker, expected=3)
    assert len(caddy_lines) == 3
    assert any('"uri":"/reset-password?token=REDACTED&x=1"' in line for line in caddy_lines)
    assert any("verify-email?token=REDACTED" in line for line in caddy_lines)
    assert any('"uri":"/api/v1/feeds/REDACTED"' in line for line in caddy_lines)
    api_lines = _api_lines(stack, f"{marker}-feed")
    assert [entry["path"] for entry in api_lines if entry.get("event") == "request"] == [
        "/api/v1/feeds/[redacted].ics"
    ]
    for path in [stack.paths.logs / "caddy.log", *(stack.paths.logs / f"api-{n}.log" for n in (1, 2))]:
        text = path.read_text()
        assert secret not in text, path
        assert feed not in text, path
