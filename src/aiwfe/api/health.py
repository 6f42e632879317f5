"""Liveness, readiness and metrics endpoints (outside ``/api/v1``; ``/metrics`` is not routed publicly)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from pydantic import BaseModel, ConfigDict, Field

from aiwfe import __version__
from aiwfe.api.readiness import check_readiness
from aiwfe.core.errors import PROBLEM_BASE
from aiwfe.core.logging import get_logger

router = APIRouter(tags=["health"])


class ReadyCheckOut(BaseModel):
    """One check of ``/ready``. Through the proxy only ``status`` (``ok`` or ``failed``); a direct request
    to a replica adds ``latency_ms`` and the check's own details."""

    model_config = ConfigDict(extra="allow")

    status: str
    latency_ms: float | None = None


class ReadyOut(BaseModel):
    status: str
    version: str
    checks: dict[str, ReadyCheckOut]
    failed: list[str]
    degraded: list[str]
    detail: str | None = Field(default=None, description="only when not ready (503)")


log = get_logger(__name__)


@router.get("/health", summary="Liveness: the process answers; no dependency is touched")
async def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@router.get(
    "/ready",
    summary="Readiness: PostgreSQL, Redis, migrations, worker and beat heartbeats",
    description=(
        "Through the proxy each check says only `ok` or `failed`; what failed and why is in the API's log "
        "(`ready_check_failed`) and in the answer to a direct request on the API's own port."
    ),
    response_model=ReadyOut,
    responses={
        503: {"model": ReadyOut, "description": "A dependency the API needs is failing; `failed` names it"}
    },
)
async def ready(request: Request) -> JSONResponse:
    state = request.app.state
    report = await check_readiness(state.engine, state.redis, state.settings)
    for name, result in report.checks.items():
        if result.status != "ok":
            log.warning("ready_check_failed", check=name, status=result.status, detail=result.detail)
    checks: dict[str, dict[str, Any]]
    if _proxied(request):
        checks = {
            name: {"status": "ok" if result.status == "ok" else "failed"}
            for name, result in report.checks.items()
        }
    else:
        checks = {
            name: {"status": result.status, "latency_ms": result.latency_ms, **result.detail}
            for name, result in report.checks.items()
        }
    body: dict[str, Any] = {
        "status": report.status,
        "version": __version__,
        "checks": checks,
        "failed": report.failed,
        "degraded": report.degraded,
    }
    if report.ready:
        return JSONResponse(body)
    body.update(
        type=PROBLEM_BASE + "not-ready",
        title="Not ready",
        detail="failing: " + ", ".join(report.failed),
    )
    return JSONResponse(body, status_code=503, media_type="application/problem+json")


def _proxied(request: Request) -> bool:
    """Whether the request came through the edge proxy (the public side). Caddy always adds these headers
    and a client cannot remove them; only a caller on the API's own port (probes, operators) lacks them."""
    headers = request.headers
    return "x-forwarded-for" in headers or "forwarded" in headers or "via" in headers


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    # Refresh aiwfe_ready_check_up at each scrape, so worker/beat alerts work without probe traffic.
    state = request.app.state
    await check_readiness(state.engine, state.redis, state.settings)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
