"""The ``aiwfe`` command: run each process (api, worker, beat, migrate) and the runtime's chores.

The local stack's commands (up, down, status, backup, validate, ...) come from ``aiwfe_stack`` through the
``aiwfe.commands`` entry point group; this package never imports it.

Imports are local to each command so ``aiwfe worker`` can prepare the metrics folder before
prometheus_client is loaded, and so ``aiwfe --help`` stays fast.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterable
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from aiwfe.core.settings import Settings

app = typer.Typer(help="aiwfe, the AI Workflow Engine.", no_args_is_help=True, add_completion=False)
err = Console(stderr=True)
# Where other packages register more sub-commands (pyproject.toml [project.entry-points."aiwfe.commands"]).
PLUGIN_GROUP = "aiwfe.commands"


def load_settings() -> Settings:
    """Settings from the environment, or a readable error naming each bad variable (exit 2)."""
    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            name = f"AIWFE_{field.upper()}" if field else "settings"
            message = str(error["msg"]).removeprefix("Value error, ")
            err.print(f"[red]configuration error[/red] {name}: {message}")
        raise typer.Exit(2) from None


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="bind address (default AIWFE_API_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default AIWFE_API_PORT)")] = None,
) -> None:
    """Serve the HTTP API with uvicorn."""
    import uvicorn

    from aiwfe.core.logging import configure_logging

    settings = load_settings()
    configure_logging(settings.log_level, service=f"{settings.service_name}-api")
    uvicorn.run(
        "aiwfe.api.app:create_app",
        factory=True,
        host=host or settings.api_host,
        port=port or settings.api_port,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=settings.graceful_shutdown_seconds,
        log_config=None,
        server_header=False,
    )


def _prepare_metrics_dir(settings: Settings) -> None:
    folder = Path(settings.worker_metrics_dir or tempfile.mkdtemp(prefix="aiwfe-worker-metrics-"))
    if not settings.worker_metrics_dir:
        atexit.register(shutil.rmtree, folder, ignore_errors=True)  # our own temp folder: leave nothing
    if folder.exists():
        shutil.rmtree(folder)  # stale files from a previous run would double-count
    folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


@app.command()
def worker(
    name: Annotated[
        str | None, typer.Option(help="node name (default AIWFE_WORKER_NAME or celery@host)")
    ] = None,
) -> None:
    """Run a Celery worker (prefork, late acks, heartbeat, task metrics)."""
    settings = load_settings()
    _prepare_metrics_dir(settings)
    from aiwfe.worker.celery_app import app as celery_app

    node = name or settings.worker_name or f"celery@{socket.gethostname()}"
    celery_app.worker_main(["worker", f"--hostname={node}", f"--loglevel={settings.log_level}"])


@app.command()
def beat() -> None:
    """Run Celery beat (exactly one per deployment)."""
    settings = load_settings()
    from aiwfe.worker.celery_app import app as celery_app

    celery_app.start(
        [
            "beat",
            "--scheduler=aiwfe.worker.heartbeat:HeartbeatScheduler",
            f"--schedule={settings.beat_schedule_file}",
            f"--loglevel={settings.log_level}",
        ]
    )


@app.command()
def migrate(revision: Annotated[str, typer.Argument(help="target revision")] = "head") -> None:
    """Apply database migrations (Alembic upgrade)."""
    from aiwfe.core.logging import configure_logging
    from aiwfe.core.migrations import upgrade

    settings = load_settings()
    configure_logging(settings.log_level, service=f"{settings.service_name}-migrate")
    upgrade(settings, revision)
    err.print(f"[green]migrations applied up to {revision}[/green]")


@app.command("worker-health")
def worker_health(
    name: Annotated[str | None, typer.Option(help="node to ping (default: this host's worker)")] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the answer")] = 5.0,
) -> None:
    """Exit 0 when the worker answers a ping, 1 when it does not (a container healthcheck)."""
    settings = load_settings()
    from aiwfe.worker.app import create_celery

    node = name or settings.worker_name or f"celery@{socket.gethostname()}"
    try:
        replies = create_celery(settings).control.ping(destination=[node], timeout=timeout)
    except Exception as exc:  # broker unreachable is an unhealthy worker, not a crash
        err.print(f"[red]unhealthy[/red]: cannot reach the broker ({type(exc).__name__}: {exc})")
        raise typer.Exit(1) from None
    if not any(node in reply for reply in replies or []):
        err.print(f"[red]unhealthy[/red]: {node} did not answer within {timeout:g}s")
        raise typer.Exit(1)
    err.print(f"[green]healthy[/green]: {node} answered")


@app.command("beat-health")
def beat_health() -> None:
    """Exit 0 while beat's heartbeat is fresher than AIWFE_HEARTBEAT_STALE_SECONDS, else 1 (a healthcheck)."""
    import time

    import redis

    from aiwfe.core.heartbeat import heartbeat_key

    settings = load_settings()
    client = redis.Redis.from_url(
        settings.redis_url.get_secret_value(), socket_timeout=3, socket_connect_timeout=3
    )
    try:
        value = client.get(heartbeat_key("beat", "beat"))
    except redis.RedisError as exc:
        err.print(f"[red]unhealthy[/red]: cannot reach Redis ({type(exc).__name__}: {exc})")
        raise typer.Exit(1) from None
    if value is None:
        err.print("[red]unhealthy[/red]: beat has written no heartbeat")
        raise typer.Exit(1)
    age = time.time() - float(value)
    if age > settings.heartbeat_stale_seconds:
        err.print(f"[red]unhealthy[/red]: beat's heartbeat is {age:.0f}s old")
        raise typer.Exit(1)
    err.print(f"[green]healthy[/green]: beat's heartbeat is {age:.1f}s old")


@app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(help="the administrator's email")],
    display_name: Annotated[str, typer.Option(help="shown in the UI")] = "",
    password_stdin: Annotated[bool, typer.Option(help="read the password from standard input")] = False,
) -> None:
    """Create a verified administrator account (works whatever the registration mode)."""
    import asyncio

    from pydantic import TypeAdapter
    from pydantic import ValidationError as PydanticValidationError
    from pydantic.networks import EmailStr

    from aiwfe.core.errors import AppError

    settings = load_settings()
    try:
        email = str(TypeAdapter(EmailStr).validate_python(email))
    except PydanticValidationError:
        err.print(f"[red]not an email address[/red]: {email}")
        raise typer.Exit(2) from None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)

    async def run() -> str:
        from aiwfe.auth.audit import ClientInfo
        from aiwfe.auth.service import AuthDeps, AuthService
        from aiwfe.core.db import create_engine, create_sessionmaker
        from aiwfe.core.redis import create_redis

        async def no_mail(*_: str) -> None:
            return None

        engine, redis = create_engine(settings), create_redis(settings)
        try:
            async with create_sessionmaker(engine)() as db:
                service = AuthService(
                    db, AuthDeps.build(settings, redis, no_mail), ClientInfo(None, "aiwfe-cli")
                )
                user = await service.create_admin(email, password, display_name)
                return str(user.id)
        finally:
            await redis.aclose()
            await engine.dispose()

    try:
        user_id = asyncio.run(run())
    except AppError as exc:
        err.print(f"[red]{exc.title}[/red]: {exc.detail}")
        raise typer.Exit(1) from None
    err.print(f"[green]administrator created[/green]: {email} ({user_id})")


@app.command("rotate-keys")
def rotate_keys() -> None:
    """Re-encrypt every stored secret with the first key of AIWFE_ENCRYPTION_KEYS (run after adding a key)."""
    import asyncio

    from aiwfe.core.db import create_engine, create_sessionmaker
    from aiwfe.keys import UndecryptableValue
    from aiwfe.keys import rotate_keys as rotate

    settings = load_settings()

    async def run() -> int:
        engine = create_engine(settings)
        try:
            async with create_sessionmaker(engine)() as db:
                return await rotate(db, settings)
        finally:
            await engine.dispose()

    try:
        count = asyncio.run(run())
    except UndecryptableValue as exc:
        err.print(f"[red]cannot rotate[/red]: {exc}")
        raise typer.Exit(1) from None
    err.print(f"[green]re-encrypted {count} stored secret(s) under the newest key[/green]")


def own_commands() -> set[str]:
    """The names of the runtime's own commands (api, worker, beat, migrate, ...)."""
    commands: dict[str, object] = getattr(typer.main.get_command(app), "commands", {})
    return set(commands)


def add_plugins(target: typer.Typer, plugins: Iterable[EntryPoint]) -> list[str]:
    """Let each entry point of ``aiwfe.commands`` add its commands; the names of those not installed.

    An entry point is a function taking the Typer app. The local stack (``aiwfe up``, ``validate``,
    ``backup``...) lives in ``aiwfe_stack`` and comes in this way, so this package never imports it. The
    images ship the runtime only: their metadata still names ``aiwfe_stack``, whose code is absent.
    """
    missing = []
    for plugin in plugins:
        try:
            register = plugin.load()
        except ModuleNotFoundError as exc:
            if exc.name is None or plugin.module.split(".")[0] != exc.name.split(".")[0]:
                raise  # the plugin is there but broken: show it
            missing.append(plugin.name)
            continue
        register(target)
    return missing


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    words = [arg for arg in args if not arg.startswith("-")]
    # `aiwfe api|worker|beat|...` import nothing but the runtime; anything else may be a plugin's command.
    if not words or words[0] not in own_commands():
        from importlib.metadata import entry_points

        add_plugins(app, entry_points(group=PLUGIN_GROUP))
    app(args=args, prog_name="aiwfe")


if __name__ == "__main__":
    main()
