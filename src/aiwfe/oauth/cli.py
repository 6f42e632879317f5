"""``aiwfe rotate-keys``: re-encrypt every stored secret (each ``*_encrypted`` column) under the new key."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

err = Console(stderr=True)


def rotate_keys() -> None:
    """Re-encrypt every stored secret with the first key of AIWFE_ENCRYPTION_KEYS (run after adding a key)."""
    from aiwfe.cli import load_settings
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


def register(app: typer.Typer) -> None:
    app.command("rotate-keys")(rotate_keys)
