"""The restore drill: restore a backup (latest or a point in time) into a scratch cluster, verify it,
and measure RTO (restore wall time) and RPO (the target against the last recovered commit).

The scratch cluster runs on another port with archiving off; the live cluster is never touched.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from aiwfe_stack.backup import BackupError, BackupRepository
from aiwfe_stack.ports import free_ports
from aiwfe_stack.postgres import PostgresCluster

# Tables whose rows carry their creation time, so the source can be counted "as of" the target.
TIMESTAMPED_TABLES = {"ops_canary": "written_at", "users": "created_at", "audit_events": "created_at"}


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class DrillResult:
    ok: bool
    target_time: str | None
    rto_seconds: float
    rpo_seconds: float | None
    backup_label: str
    checks: list[Check] = field(default_factory=list)
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def to_markdown(self) -> str:
        lines = [
            f"# Restore drill — {'PASSED' if self.ok else 'FAILED'}",
            "",
            f"- started: {self.started_at}",
            f"- backup: {self.backup_label}",
            f"- target: {self.target_time or 'latest (end of archived WAL)'}",
            f"- RTO (restore wall time): {self.rto_seconds:.1f} s (target < 900 s)",
            f"- RPO: {'n/a' if self.rpo_seconds is None else f'{self.rpo_seconds:.1f} s'} (target < 300 s)",
            "",
            "| check | result | detail |",
            "|---|---|---|",
        ]
        lines += [f"| {c.name} | {'ok' if c.ok else 'FAIL'} | {c.detail} |" for c in self.checks]
        return "\n".join(lines) + "\n"


class CanaryWriter:
    """Writes a timestamped row into ``ops_canary`` every ``interval`` seconds until stopped."""

    def __init__(self, dsn: str, interval: float = 2.0, source: str = "drill") -> None:
        self.dsn = dsn
        self.interval = interval
        self.source = source
        self.written = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="canary-writer", daemon=True)

    def _run(self) -> None:
        async def loop() -> None:
            conn = await asyncpg.connect(self.dsn, timeout=10)
            try:
                while not self._stop.is_set():
                    await conn.execute("INSERT INTO ops_canary (source) VALUES ($1)", self.source)
                    self.written += 1
                    await asyncio.sleep(self.interval)
            finally:
                await conn.close()

        asyncio.run(loop())

    def __enter__(self) -> CanaryWriter:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


async def _snapshot(dsn: str, as_of: datetime | None) -> dict[str, object]:
    """Migration version, per-table counts as of ``as_of``, and the canary rows' checksum."""
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        version = await conn.fetchval("SELECT version_num FROM alembic_version")
        counts = {}
        newest: list[datetime] = []
        for table, column in TIMESTAMPED_TABLES.items():
            if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table):
                query = f"SELECT count(*) FROM {table} WHERE $1::timestamptz IS NULL OR {column} <= $1"  # noqa: S608  # nosec B608 (table and column names come from a constant)
                counts[table] = int(await conn.fetchval(query, as_of))
                latest = await conn.fetchval(f"SELECT max({column}) FROM {table}")  # noqa: S608  # nosec B608 (a constant)
                newest += [latest] if isinstance(latest, datetime) else []
        checksum = await conn.fetchval(
            "SELECT md5(coalesce(string_agg(id::text || ':' || written_at::text, ',' ORDER BY id), '')) "
            "FROM ops_canary WHERE $1::timestamptz IS NULL OR written_at <= $1",
            as_of,
        )
        last = await conn.fetchval("SELECT max(written_at) FROM ops_canary")
        return {
            "version": version,
            "counts": counts,
            "checksum": checksum,
            "last_canary": last,
            "newest": max(newest, default=None),
        }
    finally:
        await conn.close()


async def _wait_promoted(dsn: str, limit: float) -> None:
    deadline = time.monotonic() + limit
    while True:
        try:
            conn = await asyncpg.connect(dsn, timeout=5)
            try:
                if not await conn.fetchval("SELECT pg_is_in_recovery()"):
                    return
            finally:
                await conn.close()
        except (OSError, asyncpg.PostgresError):
            pass
        if time.monotonic() > deadline:
            raise BackupError(f"the restored cluster did not finish recovery within {limit:g}s")
        await asyncio.sleep(0.5)


async def _read_write(dsn: str) -> bool:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        row_id = await conn.fetchval("INSERT INTO ops_canary (source) VALUES ('drill-write') RETURNING id")
        return bool(await conn.fetchval("SELECT count(*) FROM ops_canary WHERE id = $1", row_id) == 1)
    finally:
        await conn.close()


def restore_drill(
    repo: BackupRepository,
    source_dsn: str,
    database: str,
    workdir: Path,
    target_time: datetime | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> DrillResult:
    """Restore, verify and measure; the scratch cluster is always stopped and removed.

    ``source_dsn`` reaches the live ``database`` (as a superuser, to read every table).
    """
    backups = repo.list()
    if not backups:
        raise BackupError("the repository holds no backup yet: run `aiwfe backup now` first")
    label = backups[-1].label
    if target_time is not None:
        usable = [b for b in backups if b.stopped <= target_time]
        if not usable:
            raise BackupError(f"no backup finished before {target_time.isoformat()}")
        label = usable[-1].label

    scratch_dir = workdir / f"restore-{int(time.time())}"
    (port,) = free_ports(1)
    scratch = PostgresCluster(
        scratch_dir,
        port,
        repo.cluster.superuser_password,
        socket_dir=workdir / f"sock-{port}",
        settings={"archive_mode": "off", "shared_buffers": "'64MB'"},
    )
    started = time.monotonic()
    try:
        progress(f"restoring backup {label} into {scratch_dir}")
        repo.restore(scratch_dir, target_time)
        scratch.write_config()  # the restored copy of our include names the live port: replace it
        progress(f"starting the restored cluster on port {port} and replaying WAL")
        log = (workdir / f"restore-{port}.log").open("wb")
        try:
            scratch.start(log)
            restored_dsn = scratch.dsn(database=database)
            asyncio.run(_wait_promoted(restored_dsn, limit=600))
            rto = time.monotonic() - started

            progress("verifying the restored data against the source")
            restored = asyncio.run(_snapshot(restored_dsn, None))
            # The latest restore ends where the archived WAL ends; the live source has gone on writing (beat
            # adds a canary row every 15 s), so it is compared up to the newest row the restore holds. What
            # came after is the loss the RPO reports, not a mismatch.
            recovered = restored["newest"] if isinstance(restored["newest"], datetime) else None
            source = asyncio.run(_snapshot(source_dsn, target_time or recovered))
            checks = _compare(source, restored, target_time)
            checks.append(
                Check("read and write", asyncio.run(_read_write(restored_dsn)), "insert then select")
            )
        finally:
            scratch.stop()
            log.close()
    finally:
        shutil.rmtree(scratch_dir, ignore_errors=True)
        shutil.rmtree(workdir / f"sock-{port}", ignore_errors=True)

    last = restored["last_canary"]
    reference = target_time or source["last_canary"]
    rpo = (
        (reference - last).total_seconds()
        if isinstance(last, datetime) and isinstance(reference, datetime)
        else None
    )
    return DrillResult(
        ok=all(c.ok for c in checks),
        target_time=target_time.isoformat() if target_time else None,
        rto_seconds=round(rto, 2),
        rpo_seconds=None if rpo is None else round(max(rpo, 0.0), 2),
        backup_label=label,
        checks=checks,
    )


def _compare(source: dict[str, object], restored: dict[str, object], target: datetime | None) -> list[Check]:
    checks = [
        Check(
            "migration version",
            source["version"] == restored["version"],
            f"source {source['version']}, restored {restored['version']}",
        )
    ]
    src_counts, rst_counts = source["counts"], restored["counts"]
    assert isinstance(src_counts, dict)
    assert isinstance(rst_counts, dict)
    for table, expected in src_counts.items():
        got = rst_counts.get(table)
        checks.append(Check(f"rows in {table}", got == expected, f"expected {expected}, restored {got}"))
    checks.append(
        Check(
            "canary checksum",
            source["checksum"] == restored["checksum"],
            f"md5 of canary rows {'up to the target' if target else 'up to the newest row restored'}",
        )
    )
    last = restored["last_canary"]
    if target is not None:
        ok = last is None or (isinstance(last, datetime) and last <= target)
        checks.append(Check("nothing after the target", ok, f"last restored canary {last}"))
    return checks
