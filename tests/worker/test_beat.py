"""Celery beat writes its heartbeat from the scheduler tick."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.processes import process_env, stop, wait_for_key

from aiwfe.core.heartbeat import heartbeat_key
from aiwfe.core.settings import Settings


def test_beat_writes_its_heartbeat(aiwfe_bin: str, base_settings: Settings, tmp_path: Path) -> None:
    env = process_env(base_settings, AIWFE_BEAT_SCHEDULE_FILE=str(tmp_path / "schedule"))
    log = tmp_path / "beat.log"
    with log.open("wb") as handle:
        proc = subprocess.Popen([aiwfe_bin, "beat"], env=env, stdout=handle, stderr=subprocess.STDOUT)
    try:
        wait_for_key(base_settings, heartbeat_key("beat", "beat"), timeout=60)
    finally:
        stop(proc)
    assert proc.returncode == 0 or proc.returncode == -15
