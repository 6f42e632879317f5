"""Account recovery: mark identity links made while the user's address was unverified, which a password
reset by email link removes.

Existing links are marked when they were made before the address was verified (or it never was). A link
made with the account itself (OAuth sign-up: same transaction, same ``created_at``) is the account's origin,
not a later addition, and stays unmarked.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "oauth_accounts",
        sa.Column("linked_unverified", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.execute(
        """
        UPDATE oauth_accounts AS a SET linked_unverified = true
        FROM users AS u
        WHERE u.id = a.user_id
          AND a.created_at <> u.created_at
          AND (u.email_verified_at IS NULL OR a.created_at < u.email_verified_at)
        """
    )


def downgrade() -> None:
    op.drop_column("oauth_accounts", "linked_unverified")
