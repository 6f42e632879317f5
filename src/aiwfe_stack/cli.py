"""``aiwfe up | down | status``: the local stack's commands."""

from __future__ import annotations

from pathlib import Path

import httpx
import typer
from rich.console import Console
from rich.table import Table

from aiwfe_stack.backup import BackupError
from aiwfe_stack.settings import StackError
from aiwfe_stack.stack import Stack

console = Console()


def _print_where(stack: Stack) -> None:
    s = stack.settings
    console.print(f"[bold green]aiwfe is running[/bold green] ({stack.paths.root})")
    console.print(f"  https://{s.hostname}:{s.https_port}   (Caddy local CA: {stack.paths.ca_cert})")
    console.print(f"  http://{s.hostname}:{s.http_port}")
    console.print(f"  API docs: https://{s.hostname}:{s.https_port}/api/docs")
    if s.monitoring:
        console.print(
            f"  Prometheus: http://127.0.0.1:{s.prometheus_port}   Alertmanager: http://127.0.0.1:{s.alertmanager_port}"
        )
    console.print(f"  logs: {stack.paths.logs}/   status: make status   stop: make down")


def up() -> None:
    """Start the whole platform locally (installs what is missing) and wait until it is ready."""
    stack = Stack()
    if stack.is_running():
        console.print("[yellow]the stack is already running[/yellow]; `make down` stops it")
        _print_where(stack)
        return
    console.print("starting the aiwfe stack (first run installs packages and initialises data)...")
    try:
        stack.start()
    except StackError as exc:
        console.print(f"[red]aiwfe up failed[/red]: {exc}")
        raise typer.Exit(1) from None
    _print_where(stack)


def down() -> None:
    """Stop every process of the local stack (data is kept)."""
    stack = Stack()
    if stack.stop():
        console.print("[green]stopped[/green]; data kept in " + str(stack.paths.data))
    else:
        console.print("the stack is not running")


def status() -> None:
    """Show each process and each /ready check; exit 1 when something is down."""
    stack = Stack()
    if not stack.is_running():
        console.print("the stack is not running; `make up` starts it")
        raise typer.Exit(1)
    table = Table(title="processes (supervisord)")
    table.add_column("process")
    table.add_column("state")
    healthy = True
    for name, state in stack.process_status().items():
        ok = state.startswith("RUNNING")
        healthy &= ok
        table.add_row(name, f"[green]{state}[/green]" if ok else f"[red]{state}[/red]")
    console.print(table)
    checks = Table(title="readiness (GET /ready through Caddy; details from a replica asked directly)")
    checks.add_column("check")
    checks.add_column("status")
    checks.add_column("detail")
    try:
        code, body = stack.ready_report()
    except Exception as exc:  # report any failure to reach Caddy as a status, not a traceback
        console.print(f"[red]/ready unreachable[/red]: {type(exc).__name__}: {exc}")
        raise typer.Exit(1) from None
    # Through Caddy each check says only ok / failed; a replica asked directly (no proxy) gives the details.
    # The first that answers: one may be restarting (its state is in the process table above).
    for port in stack.settings.api_ports:
        try:
            direct = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5).json()
        except (httpx.HTTPError, ValueError):
            continue
        body = {**body, "checks": direct.get("checks", body.get("checks", {}))}
        break
    raw_checks = body.get("checks", {})
    for name, result in (raw_checks if isinstance(raw_checks, dict) else {}).items():
        state = str(result.get("status"))
        detail = ", ".join(f"{k}={v}" for k, v in result.items() if k != "status")
        checks.add_row(name, f"[green]{state}[/green]" if state == "ok" else f"[red]{state}[/red]", detail)
    console.print(checks)
    healthy &= code == 200 and body.get("status") == "ok"
    if not healthy:
        raise typer.Exit(1)


def smtp_sink(
    port: int = typer.Option(1025, help="port on 127.0.0.1"),
    folder: Path = typer.Option(Path(".aiwfe/mail"), help="where messages are stored as .eml files"),
) -> None:
    """Run an SMTP server that keeps every message as a file (local stack and tests)."""
    from aiwfe_stack.servers.smtp_sink import serve_forever

    console.print(f"SMTP sink on 127.0.0.1:{port}, messages in {folder}")
    serve_forever(folder, port)


backup_app = typer.Typer(help="Backups of the local stack's PostgreSQL (pgBackRest).", no_args_is_help=True)


def _running_stack() -> Stack:
    stack = Stack()
    if not stack.is_running():
        console.print("the stack is not running; `make up` starts it")
        raise typer.Exit(1)
    return stack


@backup_app.command("now")
def backup_now(kind: str = typer.Option("full", "--type", help="full, diff or incr")) -> None:
    """Take a backup now."""
    stack = _running_stack()
    with console.status(f"taking a {kind} backup..."):
        try:
            info = stack.backups().backup(kind)
        except BackupError as exc:
            console.print(f"[red]backup failed[/red]: {exc}")
            raise typer.Exit(1) from None
    _record_backup(stack, info.stopped.timestamp())
    console.print(f"[green]backup {info.label}[/green] ({info.type}, {info.size_bytes / 1e6:.1f} MB)")


def _record_backup(stack: Stack, finished: float) -> None:
    """Publish the backup's time for the worker's metrics (alert BackupTooOld); best effort."""
    import redis

    from aiwfe.worker.metrics import LAST_BACKUP_KEY

    try:
        client = redis.Redis.from_url(stack.app_env()["AIWFE_REDIS_URL"], socket_timeout=3)
        client.set(LAST_BACKUP_KEY, f"{finished:.0f}")
    except redis.RedisError as exc:
        console.print(
            f"[yellow]backup done, but its time could not be recorded for monitoring[/yellow]: {exc}"
        )


@backup_app.command("list")
def backup_list() -> None:
    """List the backups in the repository."""
    stack = _running_stack()
    table = Table(title=f"backups in {stack.backups().repo}")
    for column in ("label", "type", "finished (UTC)", "size", "WAL range"):
        table.add_column(column)
    try:
        backups = stack.backups().list()
    except BackupError as exc:
        console.print(f"[red]cannot read the repository[/red]: {exc}")
        raise typer.Exit(1) from None
    for b in backups:
        table.add_row(
            b.label,
            b.type,
            f"{b.stopped:%Y-%m-%d %H:%M:%S}",
            f"{b.size_bytes / 1e6:.1f} MB",
            f"{b.wal_start}..{b.wal_stop}",
        )
    console.print(table)


@backup_app.command("check")
def backup_check() -> None:
    """Prove WAL archiving works: switch a segment and wait until the repository has it."""
    stack = _running_stack()
    with console.status("checking WAL archiving..."):
        try:
            stack.backups().check()
        except BackupError as exc:
            console.print(f"[red]archiving is broken[/red]: {exc}")
            raise typer.Exit(1) from None
    console.print("[green]WAL archiving works[/green]")


def restore_drill(
    target_time: str | None = typer.Option(None, help="ISO 8601 time to restore to (default: latest)"),
    report_dir: Path = typer.Option(Path("reports"), help="where the JSON and Markdown results go"),
) -> None:
    """Restore into a scratch cluster, verify it, and report RTO and RPO (exit 1 on failure)."""
    from datetime import datetime

    from aiwfe_stack.evidence.drill import restore_drill as drill

    stack = _running_stack()
    target = None
    if target_time:
        try:
            target = datetime.fromisoformat(target_time)
        except ValueError:
            console.print(f"[red]not an ISO 8601 time[/red]: {target_time}")
            raise typer.Exit(2) from None
        if target.tzinfo is None:
            console.print("[red]give the time zone too[/red], e.g. 2026-11-27T22:30:00+00:00")
            raise typer.Exit(2)
    repo = stack.backups()
    with console.status("restore drill...") as status:
        try:
            result = drill(
                repo,
                repo.cluster.dsn(database="aiwfe"),
                "aiwfe",
                stack.paths.run / "drills",
                target,
                progress=lambda text: status.update(text),
            )
        except BackupError as exc:
            console.print(f"[red]restore drill failed[/red]: {exc}")
            raise typer.Exit(1) from None
    report_dir.mkdir(parents=True, exist_ok=True)
    stamp = result.started_at.replace(":", "").split(".")[0]
    (report_dir / f"restore-drill-{stamp}.json").write_text(result.to_json())
    (report_dir / f"restore-drill-{stamp}.md").write_text(result.to_markdown())
    console.print(result.to_markdown())
    console.print(f"results: {report_dir}/restore-drill-{stamp}.json and .md")
    if not result.ok:
        raise typer.Exit(1)


def snapshot(
    out: Path = typer.Option(Path("reports/dashboards"), help="folder for the PNG files"),
    minutes: float = typer.Option(15, help="how far back to draw"),
    prometheus: str | None = typer.Option(None, help="Prometheus URL (default: the local stack's)"),
) -> None:
    """Draw PNG snapshots of the key dashboard panels from Prometheus (evidence without Grafana)."""
    from aiwfe_stack.evidence.snapshots import render

    url = prometheus or f"http://127.0.0.1:{Stack().settings.prometheus_port}"
    try:
        taken = render(url, out, minutes)
    except httpx.HTTPError as exc:
        console.print(f"[red]cannot query Prometheus at {url}[/red]: {exc}")
        raise typer.Exit(1) from None
    for shot in taken:
        console.print(f"{shot.path}  ({shot.series} series, {shot.points} points)")


def validate(
    base_url: str | None = typer.Option(None, help="validate this URL instead of the local stack"),
    ca: Path | None = typer.Option(None, help="CA bundle to verify --base-url with"),
    users: int = typer.Option(20, help="concurrent Locust users (full run: 1000)"),
    spawn_rate: float | None = typer.Option(
        None, help="users started per second (default: ramp over half the run)"
    ),
    duration: float = typer.Option(20.0, help="load test seconds"),
    out: Path = typer.Option(Path("reports"), help="the report goes to <out>/validation-<time>/"),
    skip: list[str] = typer.Option(
        [], help="steps to skip: health, load, failover, restore, schema, snapshots, scan"
    ),
    schema_examples: int = typer.Option(10, help="schemathesis cases per operation and mode"),
    no_fail: bool = typer.Option(False, "--no-fail", help="exit 0 even when a target fails"),
) -> None:
    """Health sweep, load test, drills, schemathesis, scan; a JSON + Markdown + HTML report."""
    import shlex
    import sys

    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from aiwfe_stack.evidence import validate as v

    options = v.Options(
        base_url, ca, users, spawn_rate, duration, out, tuple(skip), shlex.join(["aiwfe", *sys.argv[1:]])
    )
    options.schema_examples = schema_examples
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console) as bar:
            step = bar.add_task("validate", total=len(v.STEPS) - len(set(skip) & set(v.STEPS)))

            def progress(text: str) -> None:
                done = bar.tasks[0].description != "validate"
                bar.update(step, description=text, advance=1 if done else 0)

            report = v.run(options, progress=progress)
            bar.update(step, description="report written", completed=bar.tasks[0].total)
    except RuntimeError as exc:
        console.print(f"[red]validate failed[/red]: {exc}")
        raise typer.Exit(2) from None
    for t in report.targets:
        mark = "[green]PASS[/green]" if t.ok else "[red]FAIL[/red]"
        console.print(f"{mark}  {t.name}: {t.measured} (target {t.limit})")
    console.print(f"report: {report.folder}/report.html, report.md and report.json")
    if not report.passed and not no_fail:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(up)
    app.command()(down)
    app.command()(status)
    app.command("smtp-sink")(smtp_sink)
    app.add_typer(backup_app, name="backup")
    app.command("restore-drill")(restore_drill)
    app.command("dashboard-snapshot")(snapshot)
    app.command("validate")(validate)
