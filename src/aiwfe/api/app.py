"""The FastAPI application factory: ``create_app(settings)``, used by uvicorn and by the tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI

from aiwfe import __version__
from aiwfe.api import health, runtime
from aiwfe.api.admission import AdmissionMiddleware
from aiwfe.api.body_limit import BodyLimitMiddleware
from aiwfe.api.middleware import RequestContextMiddleware
from aiwfe.auth import routes as auth_routes
from aiwfe.auth.service import AuthDeps
from aiwfe.auth.sessions import STORE_INFO_KEY
from aiwfe.caldav import routes as caldav_routes
from aiwfe.calendar import routes as calendar_routes
from aiwfe.calendar.reminders import routes as reminder_routes
from aiwfe.calendar.stamps import INFO_KEY as STAMPS_INFO_KEY
from aiwfe.core.admission import Gate
from aiwfe.core.db import create_engine, create_sessionmaker
from aiwfe.core.errors import install_error_handlers
from aiwfe.core.logging import configure_logging, get_logger
from aiwfe.core.metrics import DB_POOL, sample_event_loop_lag
from aiwfe.core.redis import create_redis
from aiwfe.core.settings import Settings, get_settings
from aiwfe.core.stamps import CalendarStamps
from aiwfe.core.tracing import configure_tracing
from aiwfe.jobs import routes as job_routes
from aiwfe.notify.tasks import SEND_EMAIL
from aiwfe.oauth import routes as oauth_routes
from aiwfe.oauth.service import OAuthDeps
from aiwfe.worker import signals as _publish_signals  # noqa: F401  (trace context into task headers)
from aiwfe.worker.app import create_celery
from aiwfe.worker.publish import publish
from aiwfe.worker.publish import warm as warm_publisher

API_PREFIX = "/api/v1"
log = get_logger(__name__)


def api_routers() -> list[APIRouter]:
    """Every domain's router, each to be included under ``/api/v1`` directly in the app: one level of
    included routers instead of two, so matching a request walks one fewer nested router."""
    index_router = APIRouter()

    @index_router.get("", summary="API index", tags=["meta"])
    async def index() -> dict[str, str]:
        return {"name": "aiwfe", "version": __version__, "docs": "/api/docs"}

    return [
        *auth_routes.routers,
        *oauth_routes.routers,
        *calendar_routes.routers,
        *reminder_routes.routers,
        *job_routes.routers,
        index_router,
    ]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, service=f"{settings.service_name}-api")
    configure_tracing(f"{settings.service_name}-api", settings.otlp_endpoint)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The loop keeps answering beside the expansion threads: GIL switch interval, garbage collector.
        restore_runtime = runtime.tune()
        app.state.settings = settings
        app.state.engine = create_engine(settings)
        app.state.redis = create_redis(settings)
        app.state.celery = create_celery(settings)
        await warm_publisher(app.state.celery)

        async def run_task(name: str, kwargs: dict[str, Any]) -> None:
            await publish(app.state.celery, name, kwargs=kwargs)

        async def send_email(to: str, subject: str, body: str, kind: str) -> None:
            await run_task(SEND_EMAIL, {"to": to, "subject": subject, "body": body, "kind": kind})

        app.state.auth = AuthDeps.build(settings, app.state.redis, send_email, run_task=run_task)
        app.state.calendar_stamps = CalendarStamps(app.state.redis, settings)
        # Each session tells the session store which users it changed, for the principal cache, and bumps
        # the calendar stamps of the owners whose calendars it changed, for the page cache.
        app.state.sessionmaker = create_sessionmaker(
            app.state.engine,
            info={STORE_INFO_KEY: app.state.auth.sessions, STAMPS_INFO_KEY: app.state.calendar_stamps},
        )
        app.state.oauth = OAuthDeps.build(settings, app.state.redis, clock=app.state.auth.clock)
        DB_POOL.watch(app.state.engine)

        def stalled(lag: float) -> None:
            # Find the culprit: the requests logged just before this line, with their trace ids.
            log.warning("event_loop_stalled", lag_ms=round(lag * 1000, 1))

        lag_sampler = asyncio.create_task(sample_event_loop_lag(on_stall=stalled), name="event-loop-lag")
        log.info("api_started", version=__version__, env=settings.env.value)
        try:
            yield
        finally:
            lag_sampler.cancel()
            await app.state.oauth.aclose()
            await app.state.redis.aclose()
            await app.state.engine.dispose()
            restore_runtime()
            log.info("api_stopped")

    app = FastAPI(
        title="aiwfe API",
        version=__version__,
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        # RequestContextMiddleware owns the server span, access log and Prometheus metrics; FastAPI's own
        # telemetry would add a second server span, so only its dependency/endpoint spans stay on.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_error_handlers(app)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.api_max_body_bytes,
        upload_bytes=settings.calendar_import_max_bytes,
    )
    # Inside the request context (the 503s it sheds are logged and counted), outside everything else.
    app.state.admission = Gate.for_settings(settings)
    app.add_middleware(AdmissionMiddleware, gate=app.state.admission)
    app.add_middleware(RequestContextMiddleware)  # added last: outermost, so it logs the 413s too
    app.include_router(health.router)
    for domain_router in api_routers():
        app.include_router(domain_router, prefix=API_PREFIX)
    for dav_router in caldav_routes.routers:
        app.include_router(dav_router)
    return app
