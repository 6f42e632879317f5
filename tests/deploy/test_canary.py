"""The canary writer (issue #18 item 9): beat writes one row every 15 s on every runtime, so the restore drill
of a running stack reports a measured RPO; archive_timeout is 60 s everywhere; RpoAtRisk watches WAL age."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import yaml
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from aiwfe.core.settings import Settings
from aiwfe.worker.app import create_celery
from aiwfe.worker.tasks import CANARY, CANARY_KEEP_DAYS, write_canary_row
from aiwfe_stack.backup import ARCHIVE_TIMEOUT_SECONDS

ROOT = Path(__file__).resolve().parents[2]


async def _rows(settings: Settings, sql: str, **params: object) -> list[tuple[object, ...]]:
    engine = create_async_engine(settings.database_url.get_secret_value())
    try:
        async with engine.begin() as conn:
            return [tuple(row) for row in (await conn.execute(text(sql), params)).all()]
    finally:
        await engine.dispose()


def test_beat_writes_the_canary_every_10_to_15_seconds(settings: Settings) -> None:
    schedule = create_celery(settings).conf.beat_schedule
    (entry,) = [entry for entry in schedule.values() if entry["task"] == CANARY]
    assert 10 <= float(entry["schedule"]) <= 15
    # A write that waited longer than one interval is superseded by the next: no bursts after an outage.
    assert entry["options"]["expires"] <= entry["schedule"]


def test_canary_task_writes_one_row_and_prunes_only_old_beat_rows(settings: Settings) -> None:
    asyncio.run(
        _rows(
            settings,
            "INSERT INTO ops_canary (source, written_at) VALUES "
            "('beat', now() - make_interval(days => :old)), ('drill', now() - make_interval(days => :old)), "
            "('beat', now() - make_interval(days => :recent)) RETURNING id",
            old=CANARY_KEEP_DAYS + 1,
            recent=CANARY_KEEP_DAYS - 1,
        )
    )
    first = asyncio.run(write_canary_row(settings))
    second = asyncio.run(write_canary_row(settings))
    assert second > first
    rows = asyncio.run(
        _rows(
            settings,
            "SELECT source, written_at > now() - interval '1 minute' FROM ops_canary ORDER BY id",
        )
    )
    # The expired beat row is gone; the drill's row and the recent beat row stay; two fresh rows added.
    assert rows == [("drill", False), ("beat", False), ("beat", True), ("beat", True)]


def test_archive_timeout_is_60_seconds_on_every_runtime() -> None:
    assert ARCHIVE_TIMEOUT_SECONDS == 60  # the local stack (aiwfe_stack.backup)
    conf = (ROOT / "compose/postgres/postgresql.conf").read_text()
    assert re.search(r"^archive_timeout\s*=\s*60\s*$", conf, re.MULTILINE)
    for values in (ROOT / "k8s/charts/aiwfe/values.yaml", ROOT / "k8s/environments/prod.yaml"):
        parameters = yaml.safe_load(values.read_text())["postgresql"]["cloudnativepg"]["parameters"]
        assert parameters["archive_timeout"] == "60s", values


def test_rpo_at_risk_alerts_on_wal_archive_age_on_every_runtime() -> None:
    for folder, metric in (
        ("rules", "pg_stat_archiver_last_archive_age"),
        ("rules-kubernetes", "cnpg_pg_stat_archiver_seconds_since_last_archival"),
    ):
        groups = yaml.safe_load((ROOT / "monitoring/prometheus" / folder / "postgres.yml").read_text())[
            "groups"
        ]
        (rule,) = [r for g in groups for r in g["rules"] if r.get("alert") == "RpoAtRisk"]
        assert metric in rule["expr"], folder
