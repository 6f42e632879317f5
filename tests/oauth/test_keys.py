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
