"""A real backup and point-in-time restore drill with Debian's PostgreSQL and pgBackRest."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from aiwfe.core.migrations import upgrade
from aiwfe.core.settings import Settings
from aiwfe_stack.backup import BackupError, BackupRepository
from aiwfe_stack.evidence.drill import CanaryWriter, restore_drill
from aiwfe_stack.ports import free_ports
from aiwfe_stack.postgres import PostgresCluster

DB = "aiwfe_drill"


@pytest.fixture(scope="module")
def archived(system_packages: None) -> Iterator[tuple[BackupRepository, str]]:
    """A cluster archiving to its own repository, migrated, with a stanza: the stack's setup in small."""
    root = Path(tempfile.mkdtemp(prefix="aiwfe-test-backup-"))
    root.chmod(0o755)
    (port,) = free_ports(1)
    cluster = PostgresCluster(root / "pg", port, "drill-superuser", socket_dir=root / "sock")
    repo = BackupRepository(cluster, root / "repo", root / "pgbackrest")
    cluster.settings = repo.archive_settings()
    repo.write_config()
    cluster.init()
    with (root / "pg.log").open("wb") as log:
        cluster.start(log)
        try:
            asyncio.run(cluster.ensure_database(DB, "drill", "drill-password"))
            upgrade(Settings(database_url=f"postgresql+asyncpg://drill:drill-password@127.0.0.1:{port}/{DB}"))
            repo.create_stanza()
            yield repo, cluster.dsn(database=DB)
        finally:
            cluster.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def drill_dir() -> Iterator[Path]:
    # Under /tmp itself: pytest's tmp_path is 0700, which the postgres user cannot enter.
    path = Path(tempfile.mkdtemp(prefix="aiwfe-test-drill-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def _insert(dsn: str, source: str, count: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for _ in range(count):
            await conn.execute("INSERT INTO ops_canary (source) VALUES ($1)", source)
    finally:
        await conn.close()


def test_point_in_time_restore_brings_back_exactly_the_rows_before_the_target(
    archived: tuple[BackupRepository, str], drill_dir: Path
) -> None:
    repo, dsn = archived
    asyncio.run(_insert(dsn, "before-backup", 5))
    backup = repo.backup("full")
    assert backup.type == "full"
    asyncio.run(_insert(dsn, "after-backup", 3))
    time.sleep(1.1)
    target = datetime.now(UTC)
    time.sleep(1.1)
    asyncio.run(_insert(dsn, "after-target", 4))
    repo.check()  # switch and archive the WAL holding the later rows, so recovery can pass the target

    workdir = drill_dir
    result = restore_drill(repo, dsn, DB, workdir, target)
    assert result.ok, result.to_markdown()
    by_name = {check.name: check for check in result.checks}
    assert by_name["rows in ops_canary"].detail == "expected 8, restored 8"
    assert by_name["nothing after the target"].ok
    assert result.rto_seconds > 0
    assert result.rpo_seconds is not None
    assert "PASSED" in result.to_markdown()
    assert not any(workdir.glob("restore-*/PG_VERSION"))  # the scratch cluster is removed


def test_latest_restore_under_a_canary_writer_loses_at_most_a_minute(
    archived: tuple[BackupRepository, str], drill_dir: Path
) -> None:
    repo, dsn = archived
    with CanaryWriter(dsn, interval=0.5) as writer:
        repo.backup("diff")
        time.sleep(2)
    assert writer.written >= 3
    repo.check()
    workdir = drill_dir
    result = restore_drill(repo, dsn, DB, workdir)
    assert result.ok, result.to_markdown()
    assert result.rpo_seconds is not None
    assert result.rpo_seconds <= 60


def test_latest_restore_of_a_database_that_keeps_writing_passes_and_reports_the_gap(
    archived: tuple[BackupRepository, str], drill_dir: Path
) -> None:
    """As on a running stack, where beat writes a canary row every 15 s during the drill too."""
    repo, dsn = archived
    with CanaryWriter(dsn, interval=0.5) as writer:
        repo.backup("diff")
        repo.check()
        result = restore_drill(repo, dsn, DB, drill_dir)
        written_during_the_drill = writer.written
    assert written_during_the_drill >= 3
    assert result.ok, result.to_markdown()
    assert result.rpo_seconds is not None
    assert 0 < result.rpo_seconds <= 60  # rows written after the archive's end are the gap, not a mismatch


def test_restoring_into_a_non_empty_folder_or_the_live_cluster_is_refused(
    archived: tuple[BackupRepository, str], tmp_path: Path
) -> None:
    repo, _ = archived
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "something").write_text("keep me")
    with pytest.raises(BackupError, match="not empty"):
        repo.restore(occupied)
    assert (occupied / "something").read_text() == "keep me"
    with pytest.raises(BackupError, match="live cluster"):
        repo.restore(repo.cluster.datadir)


def test_an_unreachable_repository_gives_a_clear_error(archived: tuple[BackupRepository, str]) -> None:
    repo, _ = archived
    broken = BackupRepository(repo.cluster, Path("/nonexistent/aiwfe-repo"), repo.workdir / "broken")
    broken.write_config = lambda: None  # type: ignore[method-assign]
    broken.workdir.mkdir(exist_ok=True)
    text = repo.config_path.read_text().replace(str(repo.repo), "/nonexistent/aiwfe-repo")
    broken.config_path.write_text(text)
    subprocess.run(["chmod", "-R", "a+rX", str(broken.workdir)], check=True)
    with pytest.raises(BackupError, match=r"pgbackrest (info|backup) failed"):
        broken.backup("full")
