"""Account recovery: what a password reset by email link takes away, and the mail that says so.

A reset proves control of the address. Whoever registered or signed in with it before (a pre-hijacker
who registered someone else's address) must keep nothing: every access token, the identity links made
while the address was unverified, the reminder webhook and the calendar feed secrets all go. Sessions
live in Redis and are ended by the caller.

It writes other domains' tables directly (their models only, no services): one transaction with the new
password, so a reset never half-applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from aiwfe.auth.models import AccessToken, User
from aiwfe.calendar.models import Calendar
from aiwfe.calendar.reminders.models import Webhook
from aiwfe.oauth.models import OAuthAccount


@dataclass
class Removed:
    access_tokens: list[str] = field(default_factory=list)  # names
    identity_links: list[str] = field(default_factory=list)  # "provider (email)"
    webhook: bool = False
    feeds: list[str] = field(default_factory=list)  # calendar names

    def as_dict(self) -> dict[str, object]:
        return {
            "access_tokens": self.access_tokens,
            "identity_links": self.identity_links,
            "webhook": self.webhook,
            "feeds": self.feeds,
        }


async def end_prior_access(db: AsyncSession, user: User, now: datetime) -> Removed:
    """Revoke, delete and clear what the account had, in ``db``'s transaction (the caller commits)."""
    removed = Removed()
    removed.access_tokens = list(
        await db.scalars(
            update(AccessToken)
            .where(AccessToken.user_id == user.id, AccessToken.revoked_at.is_(None))
            .values(revoked_at=now)
            .returning(AccessToken.name)
        )
    )
    links = await db.execute(
        delete(OAuthAccount)
        .where(OAuthAccount.user_id == user.id, OAuthAccount.linked_unverified.is_(True))
        .returning(OAuthAccount.provider, OAuthAccount.email)
    )
    removed.identity_links = [f"{provider} ({email or 'no email'})" for provider, email in links]
    removed.webhook = (
        await db.scalar(delete(Webhook).where(Webhook.user_id == user.id).returning(Webhook.user_id))
    ) is not None
    removed.feeds = list(
        await db.scalars(
            update(Calendar)
            .where(Calendar.owner_id == user.id, Calendar.feed_token_hash.is_not(None))
            .values(feed_token_hash=None)
            .returning(Calendar.name)
        )
    )
    return removed


def confirmation(user: User, sessions: int, removed: Removed) -> str:
    """The mail that tells the owner their password was reset and what was removed with it."""
    lines = [
        f"Hello {user.display_name or user.email},",
        "",
        "the password of your aiwfe account was just reset through the link we mailed to this address.",
        "To make sure no one else keeps access, we also removed:",
        "",
        f"- signed-in sessions: {sessions}",
        f"- access tokens: {', '.join(removed.access_tokens) if removed.access_tokens else 'none'}",
        "- linked sign-in accounts added before this address was verified: "
        + (", ".join(removed.identity_links) if removed.identity_links else "none"),
        f"- reminder webhook: {'removed' if removed.webhook else 'none'}",
        "- calendar subscription links (feeds): " + (", ".join(removed.feeds) if removed.feeds else "none"),
        "",
        "Set up again what you still need. If you did not reset your password, reset it again now.",
    ]
    return "\n".join(lines) + "\n"
