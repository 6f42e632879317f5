"""Alembic, driven from code: the config for our bundled scripts, the head revision, upgrade."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError

from aiwfe.core.settings import Settings

SCRIPT_LOCATION = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    # ConfigParser treats '%' specially; a password may contain one.
    config.set_main_option("sqlalchemy.url", settings.database_url.get_secret_value().replace("%", "%%"))
    config.attributes["settings"] = settings
    return config


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    return ScriptDirectory.from_config(config).get_current_head()


def is_known_revision(revision: str) -> bool:
    """True when ``revision`` is one of this code's migrations (False for a newer release's)."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    try:
        return ScriptDirectory.from_config(config).get_revision(revision) is not None
    except CommandError:
        return False


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (blocking; run it outside an event loop)."""
    command.upgrade(alembic_config(settings), revision)


def downgrade(settings: Settings, revision: str) -> None:
    """Revert migrations down to ``revision`` (``base`` empties the schema)."""
    command.downgrade(alembic_config(settings), revision)
