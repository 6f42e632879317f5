"""``aiwfe rotate-keys``: every stored secret (provider tokens, TOTP secrets) re-encrypted under the newest of
``AIWFE_ENCRYPTION_KEYS``; until then values under an older key in the list still open.
"""

from __future__ import annotations

import subprocess
import uuid

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from tests.oauth.conftest import sql
from tests.processes import process_env

from aiwfe.auth.models import User
from aiwfe.core.crypto import InvalidToken, decrypt, encrypt
from aiwfe.core.db import create_engine, create_sessionmaker
from aiwfe.core.settings import Settings
from aiwfe.keys import rotate_keys
from aiwfe.oauth.models import OAuthAccount

OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()


def _keys(settings: Settings, *keys: str) -> Settings:
    value = SecretStr(",".join(keys)) if keys else None
    return settings.model_copy(update={"encryption_keys": value})


async def _seed(settings: Settings, accounts: int = 2) -> dict[str, str]:
    """A user with a TOTP secret and ``accounts`` connected accounts (one without a refresh token),
    encrypted with ``settings``' keys; returns each stored value's plaintext by (table.column:row)."""
    plain: dict[str, str] = {}
    engine = create_engine(settings)
    async with create_sessionmaker(engine)() as db:
        user = User(
            email=f"{uuid.uuid4().hex[:8]}@example.com", totp_secret_encrypted=encrypt(settings, "totp")
        )
        db.add(user)
        await db.flush()
        plain[f"users.totp_secret_encrypted:{user.id}"] = "totp"
        for n in range(accounts):
            account = OAuthAccount(
                user_id=user.id,
                provider="op",
                subject=f"s{n}",
                scopes=[],
                access_token_encrypted=encrypt(settings, f"access-{n}"),
                refresh_token_encrypted=encrypt(settings, f"refresh-{n}") if n else None,
            )
            db.add(account)
            await db.flush()
            plain[f"oauth_accounts.access_token_encrypted:{account.id}"] = f"access-{n}"
            if n:
                plain[f"oauth_accounts.refresh_token_encrypted:{account.id}"] = f"refresh-{n}"
        await db.commit()
    await engine.dispose()
    return plain


async def _stored(settings: Settings) -> dict[str, str]:
    """Every stored encrypted value by (table.column:row)."""
    rows = await sql(
        settings,
        "SELECT 'users.totp_secret_encrypted:' || id, totp_secret_encrypted FROM users "
        "UNION ALL SELECT 'oauth_accounts.access_token_encrypted:' || id, access_token_encrypted "
        "FROM oauth_accounts "
        "UNION ALL SELECT 'oauth_accounts.refresh_token_encrypted:' || id, refresh_token_encrypted "
        "FROM oauth_accounts",
    )
    return {str(ref): str(value) for ref, value in rows if value is not None}


def _rotate_command(aiwfe_bin: str, settings: Settings, keys: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [aiwfe_bin, "rotate-keys"],
        env=process_env(settings, AIWFE_ENCRYPTION_KEYS=keys),
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_values_under_an_older_key_still_open_before_rotation(settings: Settings) -> None:
    plain = await _seed(_keys(settings, OLD))
    both, new_only = _keys(settings, NEW, OLD), _keys(settings, NEW)
    for ref, ciphertext in (await _stored(settings)).items():
        assert decrypt(both, ciphertext) == plain[ref]
        with pytest.raises(InvalidToken):
            decrypt(new_only, ciphertext)
    # New writes use the first key already.
    assert decrypt(new_only, encrypt(both, "fresh")) == "fresh"


async def test_rotate_keys_re_encrypts_every_secret_under_the_newest_key(
    aiwfe_bin: str, settings: Settings
) -> None:
    plain = await _seed(_keys(settings, OLD))
    before = await _stored(settings)

    result = _rotate_command(aiwfe_bin, settings, f"{NEW},{OLD}")
    assert result.returncode == 0, result.stderr
    assert "re-encrypted 4 stored secret(s)" in result.stderr

    after = await _stored(settings)
    assert after.keys() == before.keys()  # NULLs stay NULL, nothing is lost
    new_only, old_only = _keys(settings, NEW), _keys(settings, OLD)
    for ref, ciphertext in after.items():
        assert decrypt(new_only, ciphertext) == plain[ref]
        with pytest.raises(InvalidToken):
            decrypt(old_only, ciphertext)


async def test_rotate_keys_refuses_values_no_configured_key_opens(aiwfe_bin: str, settings: Settings) -> None:
    await _seed(_keys(settings, OLD))
    before = await _stored(settings)
    result = _rotate_command(aiwfe_bin, settings, NEW)
    assert result.returncode == 1
    assert "opens with none of the keys" in result.stderr
    assert await _stored(settings) == before


async def test_the_first_rotation_adopts_values_under_the_key_derived_from_the_secret_key(
    settings: Settings,
) -> None:
    plain = await _seed(_keys(settings))  # no AIWFE_ENCRYPTION_KEYS yet
    configured = _keys(settings, NEW)
    engine = create_engine(configured)
    async with create_sessionmaker(engine)() as db:
        assert await rotate_keys(db, configured) == len(plain)
    await engine.dispose()
    for ref, ciphertext in (await _stored(settings)).items():
        assert decrypt(configured, ciphertext) == plain[ref]


async def test_rotation_pages_through_more_rows_than_one_batch(settings: Settings) -> None:
    plain = await _seed(_keys(settings, OLD), accounts=5)
    both = _keys(settings, NEW, OLD)
    engine = create_engine(both)
    async with create_sessionmaker(engine)() as db:
        assert await rotate_keys(db, both, batch=2) == len(plain) == 10
    await engine.dispose()
    new_only = _keys(settings, NEW)
    assert {ref: decrypt(new_only, value) for ref, value in (await _stored(settings)).items()} == plain


# ---- every encrypted column, found on the models -------------------------------------------------


def _encrypted_columns() -> list[tuple[str, str, str]]:
    """(table, primary key, column) of every ``*_encrypted`` column the models declare."""
    import aiwfe.models  # noqa: F401  (registers every table)
    from aiwfe.core.db import Base

    found = []
    for table in Base.metadata.tables.values():
        columns = [c.name for c in table.columns if c.name.endswith("_encrypted")]
        if columns:
            (pk,) = table.primary_key.columns
            found += [(table.name, pk.name, name) for name in columns]
    return sorted(found)


async def _seed_everything(settings: Settings) -> None:
    """One value in every encrypted column: a TOTP secret, provider tokens, a reminder webhook secret and
    a CalDAV source's password."""
    from aiwfe.calendar.models import Calendar, CalendarSource
    from aiwfe.calendar.reminders.models import Webhook
    from aiwfe.calendar.sync.models import SyncSource

    await _seed(settings, accounts=2)
    engine = create_engine(settings)
    async with create_sessionmaker(engine)() as db:
        user = User(email=f"{uuid.uuid4().hex[:8]}@example.com")
        db.add(user)
        await db.flush()
        db.add(
            Webhook(user_id=user.id, url="https://hooks.example/x", secret_encrypted=encrypt(settings, "w"))
        )
        calendar = Calendar(
            owner_id=user.id,
            name="Remote",
            time_zone="UTC",
            source=CalendarSource.CALDAV,
            source_url="https://dav.example/cal/",
        )
        db.add(calendar)
        await db.flush()
        db.add(SyncSource(calendar_id=calendar.id, username="me", password_encrypted=encrypt(settings, "pw")))
        await db.commit()
    await engine.dispose()


async def _every_encrypted_value(settings: Settings) -> dict[tuple[str, str], list[str]]:
    values: dict[tuple[str, str], list[str]] = {}
    for table, pk, column in _encrypted_columns():
        # Names from the models' own metadata, not input.
        query = f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL ORDER BY {pk}"  # noqa: S608
        rows = await sql(settings, query)
        values[(table, column)] = [str(value) for (value,) in rows]
    return values


async def test_every_encrypted_column_of_the_models_is_rotated(settings: Settings) -> None:
    await _seed_everything(_keys(settings, OLD))
    before = await _every_encrypted_value(settings)
    unseeded = [column for column, values in before.items() if not values]
    assert unseeded == [], f"seed a value for {unseeded} in _seed_everything, so its rotation is tested"

    both = _keys(settings, NEW, OLD)
    engine = create_engine(both)
    async with create_sessionmaker(engine)() as db:
        assert await rotate_keys(db, both) == sum(len(values) for values in before.values())
    await engine.dispose()

    new_only = _keys(settings, NEW)
    after = await _every_encrypted_value(settings)
    for column, values in after.items():
        assert len(values) == len(before[column])
        for value in values:
            decrypt(new_only, value)  # raises InvalidToken for a value still under the old key


def test_secrets_are_stored_encrypted_or_hashed() -> None:
    """A column named for a secret holds ciphertext (``*_encrypted``, rotated) or a hash (``*_hash``); a new
    plain one fails here instead of escaping rotation."""
    import aiwfe.models  # noqa: F401
    from aiwfe.core.db import Base

    # sync_token: a CalDAV server's change cursor, not a credential. *_at: times.
    not_secrets = {"sync_token"}
    plain = [
        f"{table.name}.{column.name}"
        for table in Base.metadata.tables.values()
        for column in table.columns
        if any(word in column.name for word in ("secret", "password", "token", "api_key"))
        and not column.name.endswith(("_encrypted", "_hash", "_at"))
        and column.name not in not_secrets
    ]
    assert plain == []


async def test_a_value_from_before_the_keys_were_set_opens_once_a_key_is_deployed(settings: Settings) -> None:
    """Deploying AIWFE_ENCRYPTION_KEYS before running the rotation keeps TOTP sign-in working (no 500):
    the key derived from the secret key stays available for decryption."""
    import pyotp
    from httpx import ASGITransport, AsyncClient
    from tests.auth.conftest import PASSWORD, bearer, login_token, register

    from aiwfe.api.app import create_app

    before = _keys(settings)  # no AIWFE_ENCRYPTION_KEYS yet
    after = _keys(settings, NEW)
    email = "totp-keys@example.com"
    for phase, configured in (("enrol", before), ("sign in", after)):
        app = create_app(configured)
        async with (
            app.router.lifespan_context(app),
            AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as http,
        ):
            clock = app.state.auth.clock
            if phase == "enrol":
                await register(http, email)
                token = await login_token(http, email)
                secret = (await http.post("/api/v1/me/totp/setup", headers=bearer(token))).json()["secret"]
                code = pyotp.TOTP(secret).at(clock())
                confirmed = await http.post(
                    "/api/v1/me/totp/confirm", json={"code": code}, headers=bearer(token)
                )
                assert confirmed.status_code == 200
                continue
            clock.advance(60)  # the enrolment code's time step is spent
            step = await http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
            code = pyotp.TOTP(secret).at(clock())
            signed_in = await http.post(
                "/api/v1/auth/login/mfa", json={"mfa_token": step.json()["mfa_token"], "code": code}
            )
            assert signed_in.status_code == 200, signed_in.text
