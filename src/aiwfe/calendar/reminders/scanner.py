"""The due scan beat runs every minute: record each reminder whose time came once, in the ledger, and pick the
rows a worker should send.

A scan looks at reminder times in ``(last scan - grace, now]`` (the overlap catches events created or moved
just behind a scan; the unique key drops what an earlier scan already recorded). Occurrences come from the
calendar's own range expansion, so reminders follow recurrence rules, overrides, EXDATEs and DST exactly
as the calendar shows them. A time within the grace window is recorded pending (``late`` when it is more
than two scan intervals old); an older one, missed while nothing scanned, is recorded skipped and counted.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiwfe.calendar.cache import PageCache
from aiwfe.calendar.models import Calendar, Event, EventStatus
from aiwfe.calendar.occurrences import OccurrenceService
from aiwfe.calendar.reminders import metrics
from aiwfe.calendar.reminders.models import STATUS_TYPE, Delivery, DeliveryStatus, Reminder, ScanMark
from aiwfe.core.logging import get_logger
from aiwfe.core.redis import create_redis
from aiwfe.core.settings import Settings

log = get_logger(__name__)
SCANNER = "reminders"
# After a long outage, look back at most this far: older misses are neither sent nor counted.
CATCH_UP_LIMIT = timedelta(days=7)
_UNSENT = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)

# Longer than the worker's task time limit (900 s), which is what ends a stuck scan.
SCAN_EXPANSION_SECONDS = 3600.0


@dataclass
class ScanResult:
    window_start: datetime
    window_end: datetime
    recorded: int = 0
    skipped: int = 0
    expired: int = 0
    to_send: list[uuid.UUID] = field(default_factory=list)
    lag_seconds: float = 0.0


def claimable(now: datetime) -> ColumnElement[bool]:
    """Rows a worker may claim at ``now``: unsent, and not leased (or waiting for a retry) past ``now``."""
    return and_(
        Delivery.status.in_(_UNSENT),
        or_(Delivery.lease_until.is_(None), Delivery.lease_until <= now),
    )


async def _mark(db: AsyncSession, now: datetime, interval: timedelta) -> datetime:
    """Lock this scanner's row (concurrent scans queue here) and return when it last scanned."""
    await db.execute(
        insert(ScanMark).values(name=SCANNER, last_scan_at=now - interval).on_conflict_do_nothing()
    )
    last = await db.scalar(select(ScanMark.last_scan_at).where(ScanMark.name == SCANNER).with_for_update())
    assert last is not None
    return last


async def _due_rows(
    db: AsyncSession, settings: Settings, lower: datetime, now: datetime
) -> list[dict[str, object]]:
    """Ledger rows for every reminder time in ``(lower, now]``: one per event, occurrence, offset, channel."""
    grace_edge = now - timedelta(seconds=settings.reminders_grace_seconds)
    late_edge = now - timedelta(seconds=2 * settings.reminders_scan_seconds)
    offsets = (await db.scalars(select(Reminder.minutes_before).distinct())).all()
    if not offsets:
        return []
    redis = create_redis(settings)
    try:
        # The expansion deadline keeps an API replica's event loop answering others; the scan runs in the
        # worker and must see every occurrence, so its expansions may take as long as they need (each is
        # still bounded by the recurrence budget).
        unhurried = settings.model_copy(
            update={"calendar_expansion_deadline_seconds": SCAN_EXPANSION_SECONDS}
        )
        pages = PageCache(redis, ttl_seconds=unhurried.calendar_cache_seconds, memory_bytes=0)
        expansion = OccurrenceService(db, unhurried, pages)
        rows: list[dict[str, object]] = []
        for minutes in sorted(offsets):
            offset = timedelta(minutes=minutes)
            start_lo, start_hi = lower + offset, now + offset
            channels: dict[uuid.UUID, list[Reminder]] = defaultdict(list)
            for reminder in await db.scalars(select(Reminder).where(Reminder.minutes_before == minutes)):
                channels[reminder.event_id].append(reminder)
            calendars = list(
                await db.scalars(
                    select(Calendar).where(
                        Calendar.id.in_(select(Event.calendar_id).where(Event.id.in_(list(channels))))
                    )
                )
            )
            # Half-open [lo, hi) on overlap; the exact (lo, hi] on the start is checked below.
            occurrences, _truncated = await expansion.occurrences(
                calendars, start_lo, start_hi + timedelta(microseconds=1), series_of=list(channels)
            )
            for occurrence in occurrences:
                if not start_lo < occurrence.start <= start_hi:
                    continue
                if occurrence.content.status is EventStatus.CANCELLED:
                    continue
                due = occurrence.start - offset
                skipped = due <= grace_edge
                for reminder in channels.get(occurrence.event_id, []):
                    rows.append(
                        {
                            "id": uuid.uuid4(),
                            "user_id": occurrence.calendar.owner_id,
                            "event_id": occurrence.event_id,
                            "occurrence_key": occurrence.instance.key,
                            "minutes_before": minutes,
                            "channel": reminder.channel,
                            "occurrence_start": occurrence.start,
                            "due_at": due,
                            "status": DeliveryStatus.SKIPPED if skipped else DeliveryStatus.PENDING,
                            "late": due < late_edge,
                        }
                    )
        return rows
    finally:
        await redis.aclose()


async def scan(sessions: async_sessionmaker[AsyncSession], settings: Settings, now: datetime) -> ScanResult:
    """One scan at ``now`` (aware). Returns what it recorded and the delivery ids to hand to workers;
    those rows are stamped ``enqueued_at`` so the next scans leave them alone for one lease."""
    interval = timedelta(seconds=settings.reminders_scan_seconds)
    grace = timedelta(seconds=settings.reminders_grace_seconds)
    lease = timedelta(seconds=settings.reminders_lease_seconds)
    async with sessions() as db:
        last = await _mark(db, now, interval)
        lower = max(last - grace, now - CATCH_UP_LIMIT)
        result = ScanResult(window_start=lower, window_end=now)
        if lower < now:
            rows = await _due_rows(db, settings, lower, now)
            for start in range(0, len(rows), 1000):
                inserted = await db.execute(
                    insert(Delivery)
                    .values(rows[start : start + 1000])
                    .on_conflict_do_nothing(constraint="uq_reminder_deliveries_once")
                    .returning(Delivery.status)
                )
                for (status,) in inserted:
                    result.recorded += 1
                    result.skipped += status is DeliveryStatus.SKIPPED
        # Unsent rows whose time is now past the grace window (the queue or every worker was down):
        # never tried -> skipped, tried and failing -> failed. A live lease is left to its worker.
        expired = await db.execute(
            update(Delivery)
            .where(claimable(now), Delivery.due_at <= now - grace)
            .values(
                status=case(
                    (Delivery.attempts == 0, literal(DeliveryStatus.SKIPPED, STATUS_TYPE)),
                    else_=literal(DeliveryStatus.FAILED, STATUS_TYPE),
                ),
                error=case((Delivery.attempts == 0, Delivery.error), else_=literal("past the grace window")),
                lease_until=None,
            )
            .returning(Delivery.attempts, Delivery.channel)
        )
        for attempts, channel in expired:
            if attempts == 0:
                result.skipped += 1
            else:
                result.expired += 1
                metrics.FAILED.labels(channel.value).inc()
        due = await db.execute(
            update(Delivery)
            .where(
                claimable(now),
                or_(Delivery.enqueued_at.is_(None), Delivery.enqueued_at <= now - lease),
            )
            .values(enqueued_at=now)
            .returning(Delivery.id)
        )
        result.to_send = list(due.scalars())
        oldest = await db.scalar(
            select(func.min(Delivery.due_at)).where(Delivery.status.in_(_UNSENT), Delivery.due_at <= now)
        )
        result.lag_seconds = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
        await db.execute(
            update(ScanMark)
            .where(ScanMark.name == SCANNER)
            .values(last_scan_at=func.greatest(ScanMark.last_scan_at, now))
        )
        await db.commit()
    metrics.SKIPPED.inc(result.skipped)
    metrics.LAG.set(result.lag_seconds)
    log.info(
        "reminders_scanned",
        recorded=result.recorded,
        skipped=result.skipped,
        expired=result.expired,
        to_send=len(result.to_send),
        lag_seconds=round(result.lag_seconds, 1),
    )
    return result
