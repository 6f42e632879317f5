"""Key rotation: re-encrypt every secret stored under ``AIWFE_ENCRYPTION_KEYS`` with the newest key.

Add a new key in front of the list, run ``aiwfe rotate-keys``, then drop the old key from the list.
Values written before ``AIWFE_ENCRYPTION_KEYS`` was set (under the key derived from ``AIWFE_SECRET_KEY``)
open with that derived key, so the first rotation needs no old key in the list.

Every column named ``*_encrypted`` on any table holds MultiFernet ciphertext and is rotated: the columns
are found on the metadata, so a new encrypted column cannot be forgotten here.
"""

from __future__ import annotations

from sqlalchemy import Column, Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

import aiwfe.models  # noqa: F401  (registers every table on Base.metadata)
from aiwfe.core.crypto import InvalidToken, fernet
from aiwfe.core.db import Base
from aiwfe.core.settings import Settings

SUFFIX = "_encrypted"


class UndecryptableValue(ValueError):
    """A stored value opens with none of the configured keys (a key was dropped too early)."""


def encrypted_columns() -> list[tuple[Table, Column[object], Column[object]]]:
    """(table, primary key, column) for every ``*_encrypted`` column, in a stable order."""
    found = []
    for table in sorted(Base.metadata.tables.values(), key=lambda t: t.name):
        columns = [column for column in table.columns if column.name.endswith(SUFFIX)]
        if not columns:
            continue  # tables without secrets may have any key (CalDAV's change log has a composite one)
        (pk,) = table.primary_key.columns  # rotation pages through a table by its single-column key
        found += [(table, pk, column) for column in columns]
    return found


async def rotate_keys(db: AsyncSession, settings: Settings, *, batch: int = 500) -> int:
    """Re-encrypt every stored secret under the first key; returns how many values were rewritten."""
    keys = fernet(settings)
    rewritten = 0
    for table, pk, column in encrypted_columns():
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
                    rotated = keys.rotate(str(value).encode()).decode()
                except InvalidToken:
                    raise UndecryptableValue(
                        f"{table.name}.{column.name} of row {row_id} opens with none of the keys in "
                        "AIWFE_ENCRYPTION_KEYS; put the old key back (after the new one) and run again"
                    ) from None
                # Only if unchanged meanwhile: a concurrent write already used the newest key.
                await db.execute(
                    update(table).where(pk == row_id, column == value).values({column.name: rotated})
                )
                rewritten += 1
            await db.commit()
            last = rows[-1][0]
    return rewritten
