"""Password policy and argon2id hashing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiwfe.auth.passwords import Hasher, common_passwords, policy_violation
from aiwfe.core.settings import Settings


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short-pw", "at least 12"),
        ("x" * 1025, "at most 1024"),
        ("q1w2e3r4t5y6", "most common"),
        ("JustinBieber", "most common"),
        ("alice.smith-secret-2026", "email"),
    ],
)
def test_policy_refuses(password: str, reason: str) -> None:
    violation = policy_violation(password, "Alice.Smith@example.com")
    assert violation is not None
    assert reason in violation


def test_policy_accepts_a_long_uncommon_password() -> None:
    assert policy_violation("violet anchors sing at dusk", "alice@example.com") is None


def test_common_list_holds_ten_thousand_entries() -> None:
    assert len(common_passwords()) == 10_000
    assert "123456" in common_passwords()


@given(st.text(min_size=12, max_size=40).filter(lambda p: p.lower() not in common_passwords()))
def test_any_long_uncommon_password_without_the_local_part_is_accepted(password: str) -> None:
    if "zed" in password.lower():
        return
    assert policy_violation(password, "zed@example.com") is None


async def test_hash_verifies_the_right_password_only() -> None:
    hasher = Hasher(Settings(argon2_time_cost=1, argon2_memory_kib=8192, argon2_parallelism=1))
    stored = await hasher.hash("violet anchors sing at dusk")
    assert stored.startswith("$argon2id$")
    assert await hasher.verify(stored, "violet anchors sing at dusk")
    assert not await hasher.verify(stored, "violet anchors sing at dawn")
    assert not await hasher.verify(None, "anything")


async def test_changed_parameters_mark_old_hashes_for_rehash() -> None:
    old = Hasher(Settings(argon2_time_cost=1, argon2_memory_kib=8192, argon2_parallelism=1))
    new = Hasher(Settings(argon2_time_cost=2, argon2_memory_kib=8192, argon2_parallelism=1))
    stored = await old.hash("violet anchors sing at dusk")
    assert new.needs_rehash(stored)
    assert not old.needs_rehash(stored)


def test_the_defaults_are_owasps_argon2id_recommendation() -> None:
    defaults = Settings()
    chosen = (defaults.argon2_memory_kib, defaults.argon2_time_cost, defaults.argon2_parallelism)
    assert chosen == (19456, 2, 1)


async def test_a_hash_with_older_parameters_is_replaced_at_the_next_sign_in(settings: Settings) -> None:
    """An account hashed with the former defaults signs in and leaves with a hash of today's parameters."""
    from httpx import ASGITransport, AsyncClient
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from aiwfe.api.app import create_app

    today = settings.model_copy(update={"argon2_time_cost": 2, "argon2_memory_kib": 19456})
    before = Hasher(settings.model_copy(update={"argon2_time_cost": 3, "argon2_memory_kib": 65536}))
    password = "violet anchors sing at dusk"
    app = create_app(today)
    engine = create_async_engine(settings.database_url.get_secret_value())
    try:
        async with (
            app.router.lifespan_context(app),
            AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as http,
        ):
            email = "rehash@example.com"
            assert (
                await http.post("/api/v1/auth/register", json={"email": email, "password": password})
            ).status_code == 201
            old_hash = await before.hash(password)
            async with engine.begin() as conn:
                await conn.execute(text("UPDATE users SET password_hash = :h"), {"h": old_hash})
            login = {"email": email, "password": password, "mode": "token"}
            assert (await http.post("/api/v1/auth/login", json=login)).status_code == 200
            async with engine.connect() as conn:
                stored = (await conn.execute(text("SELECT password_hash FROM users"))).scalar_one()
            assert stored != old_hash
            assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=")
            assert (await http.post("/api/v1/auth/login", json=login)).status_code == 200
    finally:
        await engine.dispose()
