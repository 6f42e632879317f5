"""Typed settings read once from the environment (prefix ``AIWFE_``) and passed in.

Every variable is documented in ``.env.example``. In production the settings refuse
default or missing secrets, naming the variable, so a misconfigured deploy fails at start.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from functools import lru_cache

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Development-only values: fine on a laptop, refused when AIWFE_ENV=production.
DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"  # noqa: S105 (refused in production)
DEV_DATABASE_URL = "postgresql+asyncpg://aiwfe:aiwfe@127.0.0.1:15432/aiwfe"
DEV_REDIS_URL = "redis://127.0.0.1:16379/0"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class RegistrationMode(StrEnum):
    OPEN = "open"
    INVITE = "invite"
    CLOSED = "closed"


class InsecureSettingsError(ValueError):
    """A production setting still holds its development default or is missing."""


class Settings(BaseSettings):
    """All of aiwfe's configuration. Field names map to ``AIWFE_<NAME>`` variables."""

    model_config = SettingsConfigDict(env_prefix="AIWFE_", extra="ignore", frozen=True)

    env: Environment = Environment.DEVELOPMENT
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    encryption_keys: SecretStr | None = Field(
        default=None,
        description="comma-separated Fernet keys, newest first; derived from the secret key if unset",
    )
    database_url: SecretStr = SecretStr(DEV_DATABASE_URL)
    redis_url: SecretStr = SecretStr(DEV_REDIS_URL)
    broker_url: SecretStr | None = Field(default=None, description="Celery broker; defaults to the Redis URL")

    log_level: str = "INFO"
    service_name: str = Field(
        default="aiwfe",
        pattern=r"^[A-Za-z0-9._-]{1,64}$",
        description="names the processes in logs, traces, PostgreSQL's application_name, Redis's CLIENT LIST",
    )
    otlp_endpoint: str | None = Field(default=None, description="OTLP/HTTP traces endpoint; unset = none")

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8001, ge=1, le=65535)
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="the proxy's own addresses/CIDRs, comma separated; X-Forwarded-For is read right to left "
        "and the first hop not listed is the client. Never '*': the client writes the left-most entry",
    )
    api_max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="largest request body the API reads (ICS uploads: calendar_import_max_bytes)",
    )
    graceful_shutdown_seconds: int = Field(default=20, ge=0)
    api_max_concurrent_requests: int = Field(
        default=0,
        ge=0,
        description="requests one API process works on at once, 0 = db_pool_size + db_max_overflow; "
        "the others wait their turn (core/admission.py)",
    )
    api_admission_wait_seconds: float = Field(
        default=10.0,
        gt=0,
        description="how long a request may wait for its turn before it is answered 503 (overloaded)",
    )

    # Every connection the API may use at once is kept open (no overflow): under load an overflow connection
    # is closed when it comes back and opened again for the next burst (connect, authentication, session
    # setup, a PostgreSQL backend started), paid by the very requests that are already queueing. The
    # admission gate lets as many requests work at once as the pool holds (core/admission.py).
    db_pool_size: int = Field(default=20, ge=1)
    db_max_overflow: int = Field(default=0, ge=0)
    db_pool_timeout_seconds: float = Field(default=10.0, gt=0)
    db_statement_timeout_ms: int = Field(default=15000, ge=0)

    ready_check_timeout_seconds: float = Field(default=2.0, gt=0)
    heartbeat_interval_seconds: float = Field(default=10.0, gt=0)
    heartbeat_stale_seconds: float = Field(default=60.0, gt=0)

    worker_concurrency: int = Field(default=2, ge=1)
    worker_max_tasks_per_child: int = Field(default=200, ge=1)
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = Field(default=9101, ge=0, le=65535, description="0 disables the server")
    worker_metrics_dir: str | None = Field(
        default=None, description="prometheus multiprocess folder; a fresh temp folder when unset"
    )
    worker_name: str | None = Field(default=None, description="Celery node name; defaults to celery@<host>")
    beat_schedule_file: str = "celerybeat-schedule"

    public_url: str = Field(
        default="https://localhost:8443",
        description="the address users reach aiwfe at: links in emails and the allowed Origin",
    )
    registration_mode: RegistrationMode = RegistrationMode.OPEN

    session_idle_minutes: int = Field(default=60 * 24, ge=1)
    session_absolute_hours: int = Field(default=24 * 14, ge=1)
    session_cookie_name: str = "aiwfe_session"
    csrf_cookie_name: str = "aiwfe_csrf"

    # OWASP's argon2id recommendation (m=19 MiB, t=2, p=1): ~27 ms of CPU per sign-in here, against ~200 ms
    # for t=3, m=64 MiB, p=2. Stronger settings cost sign-ins per second per core (docs/validation.md);
    # hashes made with other parameters are rehashed at the next sign-in.
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_memory_kib: int = Field(default=19456, ge=8192)
    argon2_parallelism: int = Field(default=1, ge=1)
    argon2_max_concurrent: int = Field(
        default=2, ge=1, description="password hashes computed at once per process; the rest queue"
    )

    login_rate_per_ip: str = Field(default="30/minute", description="limits notation")
    login_rate_per_account: str = "10/minute"
    register_rate_per_ip: str = "10/hour"
    email_rate_per_ip: str = "10/hour"
    lockout_threshold: int = Field(default=5, ge=1, description="failed logins before the first lockout")
    lockout_base_seconds: int = Field(default=60, ge=1)
    lockout_max_seconds: int = Field(default=3600, ge=1)

    verify_token_hours: int = Field(default=24, ge=1)
    invite_days: int = Field(default=7, ge=1, description="how long an invitation link works")
    reset_token_minutes: int = Field(default=60, ge=1)
    reauth_minutes: int = Field(
        default=10, ge=1, description="how long a password or TOTP check unlocks sensitive account changes"
    )
    access_token_default_days: int = Field(
        default=90, ge=1, description="expiry of an access token created without expires_at"
    )
    audit_retention_days: int = Field(default=365, ge=1)

    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=1025, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    mail_from: str = "aiwfe <no-reply@localhost>"

    # --- oauth: providers (docs/oauth.md), calls to them, connected-account token refresh
    oauth_providers: SecretStr = Field(
        default=SecretStr("[]"),
        description="JSON list of OAuth/OIDC providers, client secrets included (docs/oauth.md)",
    )
    oauth_http_timeout_seconds: float = Field(default=10.0, gt=0)
    oauth_http_attempts: int = Field(default=3, ge=1, description="tries per call to a provider")
    oauth_retry_backoff_seconds: float = Field(default=0.5, ge=0, description="first retry delay, doubling")
    oauth_breaker_threshold: int = Field(default=5, ge=1, description="failed calls that open the circuit")
    oauth_breaker_reset_seconds: int = Field(default=30, ge=1, description="how long a circuit stays open")
    oauth_clock_skew_seconds: int = Field(default=60, ge=0, description="allowed for ID-token times")
    oauth_metadata_cache_seconds: int = Field(default=3600, ge=1, description="discovery documents and JWKS")
    oauth_flow_minutes: int = Field(default=10, ge=1, description="time to finish signing in at the provider")
    oauth_refresh_ahead_seconds: int = Field(default=600, ge=0, description="refresh tokens expiring sooner")
    oauth_refresh_every_seconds: float = Field(default=60.0, gt=0, description="beat interval of the refresh")

    # --- calendar
    calendar_max_instances: int = Field(
        default=5000, ge=1, description="most instances one recurring series may expand to in one query"
    )
    calendar_recurrence_budget: int = Field(
        default=10_000,
        ge=100,
        description="rule iterations checking or storing one recurring series may spend (about 1-2 us each)",
    )
    calendar_import_recurrence_budget: int = Field(
        default=2_000_000, ge=1000, description="rule iterations one whole import or sync may spend"
    )
    calendar_inline_expansion_steps: int = Field(
        default=20_000,
        ge=0,
        description="estimated rule iterations a range query may expand on the event loop (about 1-2 us "
        "each); more go to a worker thread (calendar/offload.py)",
    )
    calendar_expansion_deadline_seconds: float = Field(
        default=5.0,
        gt=0,
        description="how long a range query's expansion in a worker thread may take before a 503",
    )
    calendar_max_events_per_calendar: int = Field(
        default=25_000, ge=1, description="events (series masters and overrides) one calendar may hold"
    )
    calendar_max_events_per_user: int = Field(
        default=100_000, ge=1, description="events all of one user's calendars may hold together"
    )
    calendar_max_range_days: int = Field(default=400, ge=1, description="longest range a query may ask for")
    calendar_page_size_max: int = Field(default=2500, ge=1)
    calendar_cache_seconds: int = Field(
        default=300, ge=0, description="range-query pages cached in Redis by calendar version; 0 = off"
    )
    calendar_cache_memory_bytes: int = Field(
        default=32 * 1024 * 1024, ge=0, description="per API process, in front of Redis; 0 = Redis only"
    )
    calendar_import_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    calendar_import_inline_bytes: int = Field(
        default=256 * 1024, ge=0, description="larger uploads are imported by the worker"
    )
    calendar_import_max_events: int = Field(default=20000, ge=1)
    # --- calendar sync sources (docs/calendars.md)
    calendar_sync_interval_minutes: int = Field(default=15, ge=1, description="how often each source syncs")
    calendar_sync_scan_seconds: float = Field(default=60.0, gt=0, description="beat interval of the due scan")
    calendar_sync_timeout_seconds: float = Field(default=15.0, gt=0, description="per call to a remote")
    calendar_sync_attempts: int = Field(default=3, ge=1, description="tries per call to a remote")
    calendar_sync_backoff_seconds: float = Field(default=0.5, ge=0, description="first retry delay, doubling")
    calendar_sync_breaker_threshold: int = Field(default=5, ge=1, description="outages that open a circuit")
    calendar_sync_breaker_reset_seconds: int = Field(default=60, ge=1, description="how long it stays open")
    calendar_sync_max_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, description="largest answer read from a sync source, per request"
    )
    calendar_sync_total_seconds: float = Field(
        default=60.0, gt=0, description="longest a sync source may take over one answer, in total"
    )
    google_calendar_api_url: str = Field(
        default="https://www.googleapis.com/calendar/v3", description="Google Calendar API base URL"
    )

    # --- jobs: the live progress stream (GET /api/v1/jobs/{id}/events)
    jobs_events_poll_seconds: float = Field(
        default=0.5, gt=0, description="how often an open progress stream reads the job's row"
    )
    jobs_events_heartbeat_seconds: float = Field(
        default=10.0, gt=0, description="a comment line this often keeps proxies from closing an idle stream"
    )
    jobs_events_max_seconds: float = Field(
        default=600.0, gt=0, description="a stream ends after this long; the browser reconnects"
    )
    jobs_events_max_streams_per_user: int = Field(
        default=6, ge=1, description="progress streams one user may hold open at once (429 beyond)"
    )

    # --- event reminders (docs/reminders.md)
    reminders_scan_seconds: float = Field(default=60.0, gt=0, description="beat interval of the due scan")
    reminders_grace_seconds: int = Field(
        default=900, ge=0, description="a reminder missed by at most this is sent late; older: skipped"
    )
    reminders_lease_seconds: int = Field(
        default=120, ge=1, description="a claim by a worker that vanished lapses after this"
    )
    reminders_max_attempts: int = Field(default=5, ge=1, description="send attempts before a delivery fails")
    reminders_scan_on_worker_start: bool = Field(
        default=True, description="a starting worker scans at once (catch-up after downtime)"
    )
    reminders_webhook_timeout_seconds: float = Field(default=10.0, gt=0, description="per webhook POST")
    reminders_webhook_attempts: int = Field(default=3, ge=1, description="tries per webhook send")
    reminders_webhook_backoff_seconds: float = Field(
        default=0.5, ge=0, description="first retry delay, doubling"
    )
    reminders_webhook_breaker_threshold: int = Field(
        default=5, ge=1, description="failures that open a receiver's circuit"
    )
    reminders_webhook_breaker_reset_seconds: int = Field(
        default=60, ge=1, description="how long a receiver's circuit stays open"
    )

    # --- outbound calls to URLs users give (docs/security.md)
    outbound_allow_networks: str = Field(
        default="",
        description="comma-separated addresses/CIDR networks that sync sources and webhooks may reach "
        "although not public (a CalDAV server on the LAN; the tests' loopback servers); empty = public only",
    )

    @field_validator("outbound_allow_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip():
                ipaddress.ip_network(part.strip(), strict=False)  # ValueError names the bad entry
        return value

    @property
    def celery_broker_url(self) -> str:
        return (self.broker_url or self.redis_url).get_secret_value()

    @model_validator(mode="after")
    def _refuse_insecure_production(self) -> Settings:
        if self.env is not Environment.PRODUCTION:
            return self
        defaults = {
            "AIWFE_SECRET_KEY": (self.secret_key, DEV_SECRET_KEY),
            "AIWFE_DATABASE_URL": (self.database_url, DEV_DATABASE_URL),
            "AIWFE_REDIS_URL": (self.redis_url, DEV_REDIS_URL),
        }
        for name, (value, default) in defaults.items():
            secret = value.get_secret_value()
            if not secret or secret == default:
                raise InsecureSettingsError(
                    f"{name} is missing or still set to its development default; "
                    "production refuses to start without a real value"
                )
        if len(self.secret_key.get_secret_value()) < 32:
            raise InsecureSettingsError("AIWFE_SECRET_KEY must be at least 32 characters in production")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
