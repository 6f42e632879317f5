"""A provider outage answers a 503 problem (never a crash), after retries, and opens the circuit."""

from __future__ import annotations

import time

from tests.oauth.conftest import Api


async def test_an_unreachable_provider_is_a_503_problem(api: Api) -> None:
    response = await api.http.get("/api/v1/auth/oauth/down/login")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"].endswith("/oauth-provider-unavailable")
    assert body["provider"] == "down"


async def test_repeated_failures_open_the_circuit_and_fail_fast(api: Api) -> None:
    threshold = api.app.state.settings.oauth_breaker_threshold
    for _ in range(threshold):
        assert (await api.http.get("/api/v1/auth/oauth/down/login")).status_code == 503
    began = time.monotonic()
    response = await api.http.get("/api/v1/auth/oauth/down/login")
    assert time.monotonic() - began < 0.5
    assert response.status_code == 503
    assert response.headers["retry-after"] == str(api.app.state.settings.oauth_breaker_reset_seconds)
    # Other providers have circuits of their own.
    assert (await api.http.get("/api/v1/auth/oauth/op/login")).status_code == 302


async def test_an_unknown_provider_is_404(api: Api) -> None:
    response = await api.http.get("/api/v1/auth/oauth/nope/login")
    assert response.status_code == 404
    assert response.json()["type"].endswith("/unknown-provider")
