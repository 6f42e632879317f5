"""An SMTP sink for the local stack and the tests: accepts every message and stores it as a .eml file."""

from __future__ import annotations

import time
import uuid
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class _SaveToFolder:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        name = f"{time.time():.6f}-{uuid.uuid4().hex[:8]}.eml"
        temp = self.folder / (name + ".part")
        temp.write_bytes(envelope.original_content or envelope.content)
        temp.rename(self.folder / name)  # readers never see a half-written file
        return "250 Message accepted"


class SmtpSink:
    """A real SMTP server on loopback (aiosmtpd) writing messages into ``folder``."""

    def __init__(self, folder: Path, port: int, host: str = "127.0.0.1") -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.controller = Controller(_SaveToFolder(folder), hostname=host, port=port)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def messages(self) -> list[EmailMessage]:
        found = []
        for path in sorted(self.folder.glob("*.eml")):
            parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
            assert isinstance(parsed, EmailMessage)
            found.append(parsed)
        return found


def serve_forever(folder: Path, port: int) -> None:
    sink = SmtpSink(folder, port)
    sink.start()
    try:
        while True:
            time.sleep(3600)
    finally:
        sink.stop()
