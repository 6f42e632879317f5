"""Key rotation: re-encrypt every secret stored under ``AIWFE_ENCRYPTION_KEYS`` with the newest key.

Add a new key in front of the list, run ``aiwfe rotate-keys``, then drop the old key from the list.
Values written before ``AIWFE_ENCRYPTION_KEYS`` was set (under the key derived from ``AIWFE_SECRET_KEY``)
are rotated too, so the first rotation needs no old key in the list.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from cryptography.fernet import InvalidToken
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from aiwfe.auth.models import User
from aiwfe.core.crypto import fernet
from aiwfe.core.db import Base
from aiwfe.core.settings import Settings
from aiwfe.oauth.models import OAuthAccount

# (table, primary key, encrypted column): every column holding MultiFernet ciphertext.
Column = InstrumentedAttribute[str | None]
ENCRYPTED_COLUMNS: list[tuple[type[Base], InstrumentedAttribute[uuid.UUID], Column]] = [
    (OAuthAccount, OAuthAccount.id, OAuthAccount.access_token_encrypted),
    (OAuthAccount, OAuthAccount.id, OAuthAccount.refresh_token_encrypted),
    (User, User.id, User.totp_secret_encrypted),
]


class UndecryptableValue(ValueError):
    """A stored value opens with none of the configured keys (a key was dropped too early)."""


async def rotate_keys(db: AsyncSession, settings: Settings, *, batch: int = 500) -> int:
    """Re-encrypt every stored secret under the first key; returns how many values were rewritten."""
    rotate = _rotation(settings)
    rewritten = 0
    for model, pk, column in ENCRYPTED_COLUMNS:
        last = None
        while True:
            query = select(pk, column).where(column.is_not(None)).order_by(pk).limit(batch)
            if last is not None:
                query = query.where(pk > last)
            rows = (await db.execute(query)).all()
            if not rows:
                break
            for row_id, value in rows:
                try:
                    rotated = rotate(str(value))
                except InvalidToken:
                    raise UndecryptableValue(
                        f"{model.__tablename__}.{column.key} of row {row_id} opens with none of the keys in "
                        "AIWFE_ENCRYPTION_KEYS; put the old key back (after the new one) and run again"
                    ) from None
                # Only if unchanged meanwhile: a concurrent write already used the newest key.
                await db.execute(
                    update(model).where(pk == row_id, column == value).values({column.key: rotated})
                )
                rewritten += 1
            await db.commit()
            last = rows[-1][0]
    return rewritten


def _rotation(settings: Settings) -> Callable[[str], str]:
    """Ciphertext in, the same secret under the newest key out; raises InvalidToken if nothing opens it."""
    keys = fernet(settings)
    derived = fernet(settings.model_copy(update={"encryption_keys": None}))

    def rotate(value: str) -> str:
        try:
            return keys.rotate(value.encode()).decode()
        except InvalidToken:
            if settings.encryption_keys is None:
                raise
            return keys.encrypt(derived.decrypt(value.encode())).decode()

    return rotate
