"""Settings: environment prefix, and production's refusal of default or missing secrets."""

from __future__ import annotations

import os
import subprocess

import pytest
from pydantic import ValidationError

from aiwfe.core.settings import DEV_SECRET_KEY, Environment, Settings

REAL = {
    "secret_key": "x" * 48,
    "database_url": "postgresql+asyncpg://app:pw@db:5432/aiwfe",
    "redis_url": "redis://:pw@redis:6379/0",
}


def test_values_come_from_aiwfe_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIWFE_API_PORT", "9999")
    monkeypatch.setenv("AIWFE_LOG_LEVEL", "DEBUG")
    settings = Settings()
    assert settings.api_port == 9999
    assert settings.log_level == "DEBUG"


def test_production_refuses_the_development_secret_key_naming_the_variable() -> None:
    with pytest.raises(ValidationError, match="AIWFE_SECRET_KEY"):
        Settings(env=Environment.PRODUCTION, **{**REAL, "secret_key": DEV_SECRET_KEY})


@pytest.mark.parametrize("field", ["database_url", "redis_url"])
def test_production_refuses_default_connection_urls(field: str) -> None:
    values = {k: v for k, v in REAL.items() if k != field}
    with pytest.raises(ValidationError, match=f"AIWFE_{field.upper()}"):
        Settings(env=Environment.PRODUCTION, **values)


def test_production_refuses_an_empty_secret_key() -> None:
    with pytest.raises(ValidationError, match="AIWFE_SECRET_KEY"):
        Settings(env=Environment.PRODUCTION, **{**REAL, "secret_key": ""})


def test_production_refuses_a_short_secret_key() -> None:
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(env=Environment.PRODUCTION, **{**REAL, "secret_key": "short"})


def test_production_accepts_real_secrets() -> None:
    settings = Settings(env=Environment.PRODUCTION, **REAL)
    assert settings.secret_key.get_secret_value() == REAL["secret_key"]


def test_development_allows_defaults() -> None:
    assert Settings(env=Environment.DEVELOPMENT).secret_key.get_secret_value() == DEV_SECRET_KEY


@pytest.mark.parametrize("name", ["my app", "", "a/b", "x" * 65])
def test_a_service_name_redis_would_refuse_is_refused_at_start(name: str) -> None:
    # It names every Redis connection (CLIENT SETNAME takes no spaces): a bad one must not reach Redis.
    with pytest.raises(ValidationError, match="service_name"):
        Settings(_env_file=None, service_name=name)


def test_secrets_are_masked_in_repr() -> None:
    assert REAL["secret_key"] not in repr(Settings(**REAL))


def test_cli_refuses_to_start_in_production_with_a_default_secret(aiwfe_bin: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIWFE_")}
    env.update(
        AIWFE_ENV="production", AIWFE_DATABASE_URL=REAL["database_url"], AIWFE_REDIS_URL=REAL["redis_url"]
    )
    result = subprocess.run([aiwfe_bin, "api"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "AIWFE_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr
