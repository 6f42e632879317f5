"""``aiwfe up | down | status``: the local stack's commands."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from aiwfe.ops.stack import Stack, StackError

console = Console()


def _print_where(stack: Stack) -> None:
    s = stack.settings
    console.print(f"[bold green]aiwfe is running[/bold green] ({stack.paths.root})")
    console.print(f"  https://{s.hostname}:{s.https_port}   (Caddy local CA: {stack.paths.ca_cert})")
    console.print(f"  http://{s.hostname}:{s.http_port}")
    console.print(f"  API docs: https://{s.hostname}:{s.https_port}/api/docs")
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
    checks = Table(title="readiness (GET /ready through Caddy)")
    checks.add_column("check")
    checks.add_column("status")
    checks.add_column("detail")
    try:
        code, body = stack.ready_report()
    except Exception as exc:  # report any failure to reach Caddy as a status, not a traceback
        console.print(f"[red]/ready unreachable[/red]: {type(exc).__name__}: {exc}")
        raise typer.Exit(1) from None
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
    from aiwfe.ops.smtp_sink import serve_forever

    console.print(f"SMTP sink on 127.0.0.1:{port}, messages in {folder}")
    serve_forever(folder, port)


def register(app: typer.Typer) -> None:
    app.command()(up)
    app.command()(down)
    app.command()(status)
    app.command("smtp-sink")(smtp_sink)
