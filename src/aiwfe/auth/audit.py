"""The audit log: one append-only row per authentication event, written in the operation's transaction."""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aiwfe.auth.models import AuditEvent

AUTH_EVENTS = Counter(
    "aiwfe_auth_events_total", "Authentication events, by event and outcome.", ["event", "outcome"]
)


@dataclass(frozen=True)
class ClientInfo:
    ip: str | None
    user_agent: str

    @property
    def rate_key(self) -> str | None:
        """What per-IP limits count: an IPv4 address, or an IPv6 client's whole /64 (one subscriber
        usually holds a /64 and can use any address in it)."""
        if not self.ip:
            return None
        try:
            address = ipaddress.ip_address(self.ip)
        except ValueError:
            return self.ip
        if isinstance(address, ipaddress.IPv6Address):
            if address.ipv4_mapped is not None:
                return str(address.ipv4_mapped)
            return str(ipaddress.IPv6Network((address, 64), strict=False))
        return str(address)


def record(
    db: AsyncSession,
    event: str,
    *,
    client: ClientInfo,
    user_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    outcome: str = "ok",
    **details: Any,
) -> None:
    """Add an audit row to the current transaction and count it."""
    db.add(
        AuditEvent(
            user_id=user_id,
            actor_id=actor_id or user_id,
            event=event,
            outcome=outcome,
            ip=client.ip,
            user_agent=client.user_agent[:512],
            details=details,
        )
    )
    AUTH_EVENTS.labels(event, outcome).inc()


async def list_events(
    db: AsyncSession, *, user_id: uuid.UUID | None, limit: int, before_id: int | None
) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if user_id is not None:
        query = query.where(AuditEvent.user_id == user_id)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    return list((await db.scalars(query)).all())


async def purge_older_than(db: AsyncSession, days: int) -> int:
    """Retention: delete events older than ``days``; returns how many."""
    result = await db.execute(
        delete(AuditEvent).where(AuditEvent.created_at < func.now() - func.make_interval(0, 0, 0, days))
    )
    await db.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
