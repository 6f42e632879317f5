"""Backups with pgBackRest: configuration, WAL archiving settings, backup / info / check, and restore.

The repository is a folder locally (``repo1-type=posix``) and S3 in production (the same stanza
options with ``repo1-type=s3``). Retention keeps 30 days of full backups and the WAL to replay them.
pgBackRest runs as the OS user that owns the cluster, talking to it over its unix socket as the
``postgres`` role (see ``PostgresCluster._write_auth``).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiwfe_stack.postgres import SUPERUSER, PostgresCluster

STANZA = "aiwfe"
RETENTION_DAYS = 30
ARCHIVE_TIMEOUT_SECONDS = 60


class BackupError(RuntimeError):
    """A pgBackRest operation failed; the message carries pgBackRest's own explanation."""


@dataclass(frozen=True)
class BackupInfo:
    label: str
    type: str
    started: datetime
    stopped: datetime
    size_bytes: int
    wal_start: str
    wal_stop: str


@dataclass
class BackupRepository:
    """One pgBackRest stanza for ``cluster`` with a posix repository in ``repo``."""

    cluster: PostgresCluster
    repo: Path
    workdir: Path  # config, logs, lock and spool files

    @property
    def config_path(self) -> Path:
        return self.workdir / "pgbackrest.conf"

    @property
    def run_as(self) -> str | None:
        return self.cluster.run_as

    def archive_settings(self) -> dict[str, str]:
        """PostgreSQL settings that ship every WAL segment to the repository (at least once a minute)."""
        command = f"pgbackrest --config={self.config_path} --stanza={STANZA} archive-push %p"
        return {
            "wal_level": "replica",
            "archive_mode": "on",
            "archive_command": "'" + command.replace("'", "''") + "'",
            "archive_timeout": str(ARCHIVE_TIMEOUT_SECONDS),
            "max_wal_senders": "3",
        }

    def _own(self, path: Path) -> None:
        if self.run_as:
            entry = pwd.getpwnam(self.run_as)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def write_config(self) -> None:
        if self.cluster.socket_dir is None:
            raise BackupError("pgBackRest needs the cluster's unix socket: set PostgresCluster.socket_dir")
        for folder in (
            self.workdir,
            self.repo,
            self.workdir / "log",
            self.workdir / "lock",
            self.workdir / "spool",
        ):
            folder.mkdir(parents=True, exist_ok=True, mode=0o750)
            self._own(folder)
        options = {
            "global": {
                "repo1-type": "posix",
                "repo1-path": str(self.repo),
                "repo1-retention-full-type": "time",
                "repo1-retention-full": str(RETENTION_DAYS),
                "compress-type": "zst",
                "start-fast": "y",
                "log-path": str(self.workdir / "log"),
                "lock-path": str(self.workdir / "lock"),
                "spool-path": str(self.workdir / "spool"),
                "log-level-console": "warn",
                "log-level-file": "info",
            },
            STANZA: {
                "pg1-path": str(self.cluster.datadir),
                "pg1-port": str(self.cluster.port),
                "pg1-socket-path": str(self.cluster.socket_dir),
                # The database role; the socket's peer map lets the cluster's OS user (``postgres`` as
                # root, else the invoking user) log in as it.
                "pg1-user": SUPERUSER,
            },
        }
        text = "# Written by aiwfe.\n"
        for section, values in options.items():
            text += f"[{section}]\n" + "".join(f"{k}={v}\n" for k, v in values.items()) + "\n"
        self.config_path.write_text(text)
        self.config_path.chmod(0o640)
        self._own(self.config_path)

    def run(self, *args: str, timeout: float = 1800) -> str:
        """Run one pgBackRest command as the cluster's OS user; raise BackupError with its message."""
        if shutil.which("pgbackrest") is None:
            raise BackupError("pgBackRest is not installed (Debian package: pgbackrest)")
        command = ["pgbackrest", f"--config={self.config_path}", f"--stanza={STANZA}", *args]
        try:
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=timeout,
                user=self.run_as,
                cwd="/",
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise BackupError(f"pgbackrest {args[0]} did not finish within {timeout:g}s") from None
        if result.returncode != 0:
            message = (result.stderr or result.stdout).strip().splitlines()
            raise BackupError(f"pgbackrest {args[0]} failed: " + " | ".join(message[-5:]))
        return result.stdout

    def create_stanza(self) -> None:
        self.run("stanza-create")

    def check(self) -> None:
        """Force a WAL switch and wait until it is archived: proves archiving works end to end."""
        self.run("check")

    def backup(self, kind: str = "full") -> BackupInfo:
        if kind not in {"full", "diff", "incr"}:
            raise BackupError(f"unknown backup type {kind!r}: use full, diff or incr")
        self.run("backup", f"--type={kind}")
        backups = self.list()
        if not backups:
            raise BackupError("pgBackRest reported success but lists no backup")
        return backups[-1]

    def info(self) -> dict[str, Any]:
        stanzas = json.loads(self.run("info", "--output=json"))
        return dict(stanzas[0]) if stanzas else {}

    def list(self) -> list[BackupInfo]:
        found = []
        for entry in self.info().get("backup", []):
            found.append(
                BackupInfo(
                    label=entry["label"],
                    type=entry["type"],
                    started=datetime.fromtimestamp(entry["timestamp"]["start"], UTC),
                    stopped=datetime.fromtimestamp(entry["timestamp"]["stop"], UTC),
                    size_bytes=int(entry["info"]["size"]),
                    wal_start=entry["archive"]["start"],
                    wal_stop=entry["archive"]["stop"],
                )
            )
        return found

    def restore(self, target_dir: Path, target_time: datetime | None = None) -> None:
        """Restore into an empty ``target_dir`` (never the live cluster), to a time or to the end of WAL."""
        if target_dir.resolve() == self.cluster.datadir.resolve():
            raise BackupError("refusing to restore over the live cluster's data folder")
        if target_dir.exists() and any(target_dir.iterdir()):
            raise BackupError(f"refusing to restore into {target_dir}: the folder is not empty")
        target_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        target_dir.chmod(0o700)
        self._own(target_dir)
        args = ["restore", f"--pg1-path={target_dir}", "--archive-mode=off"]
        if target_time is not None:
            stamp = target_time.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")
            args += ["--type=time", f"--target={stamp}", "--target-action=promote"]
        else:
            args += ["--type=default"]
        self.run(*args)
