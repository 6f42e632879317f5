"""Sending reminders through real workers and a real HTTP receiver: exactly once with two workers racing,
once after a worker is SIGKILLed mid-send, signed webhooks the receiver can verify, retries and the breaker.

The workers here use their own Redis database as broker, so the session's shared worker never takes
their tasks; they run with 127.0.0.1 (the receiver) allowed in AIWFE_OUTBOUND_ALLOW_NETWORKS.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tests.calendar.conftest import Caller
from tests.calendar.test_reminders_scan import remind, set_mark, timed_event
from tests.conftest import _reset
from tests.processes import RunningProcess, process_env, stop, wait_for_key

from aiwfe.calendar.reminders import delivery, webhook
from aiwfe.calendar.reminders.models import Delivery, DeliveryStatus, Notification
from aiwfe.calendar.reminders.scanner import scan
from aiwfe.calendar.reminders.tasks import enqueue_sends
from aiwfe.core.db import create_engine, create_sessionmaker
from aiwfe.core.heartbeat import heartbeat_key
from aiwfe.core.resilience import CircuitOpen
from aiwfe.core.settings import Settings
from aiwfe.worker.app import create_celery
from aiwfe_stack.ports import free_ports
from aiwfe_stack.servers.smtp_sink import SmtpSink

Sessions = async_sessionmaker[AsyncSession]
BROKER_DB = 7  # the session's worker listens on database 0


# ---- a real HTTP receiver --------------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Records every POST; answers ``statuses`` in turn (then 200). With ``hold_first``, the first
    request is left hanging until :meth:`release` — a send in flight that a test can interrupt."""

    statuses: list[int] = field(default_factory=list)
    hold_first: bool = False
    requests: list[Received] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:
                    receiver.requests.append(Received(dict(self.headers.items()), body))
                    first = len(receiver.requests) == 1
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                if first and receiver.hold_first:
                    receiver.released.wait(120)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender is gone (killed)

            def log_message(self, *_: Any) -> None:
                pass

        lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def release(self) -> None:
        self.released.set()

    def stop(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()

    def keys(self) -> list[str]:
        return [r.headers["Idempotency-Key"] for r in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver().start()
    yield found
    found.stop()


# ---- settings, workers ----------------------------------------------------------------------------


def _broker_url(settings: Settings) -> str:
    base = settings.redis_url.get_secret_value().rsplit("/", 1)[0]
    return f"{base}/{BROKER_DB}"


@pytest.fixture
def mail_sink(tmp_path: Path) -> Iterator[SmtpSink]:
    """This module's own SMTP sink: other sessions' clean-ups never touch its folder."""
    (port,) = free_ports(1)
    sink = SmtpSink(tmp_path / "mail", port)
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def settings(base_settings: Settings, mail_sink: SmtpSink) -> Iterator[Settings]:
    """This module's settings: its own broker database, and webhooks to 127.0.0.1 allowed."""
    yield base_settings.model_copy(
        update={
            "redis_url": SecretStr(_broker_url(base_settings)),
            "outbound_allow_networks": "127.0.0.1/32",
            "reminders_webhook_backoff_seconds": 0.01,
            "smtp_port": mail_sink.controller.port,
        }
    )
    _reset(base_settings, mail_sink.folder)
    redis.Redis.from_url(_broker_url(base_settings)).flushdb()


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[Sessions]:
    engine = create_engine(settings)
    yield create_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
def start_worker(
    aiwfe_bin: str, settings: Settings, tmp_path: Path
) -> Iterator[Callable[..., RunningProcess]]:
    """Start a worker in its own process group (so a SIGKILL takes its children too)."""
    started: list[RunningProcess] = []

    def start(name: str, **env: str) -> RunningProcess:
        folder = tmp_path / name
        folder.mkdir()
        (metrics_port,) = free_ports(1)
        node = f"celery@reminders-{name}"
        defaults = {
            "AIWFE_WORKER_METRICS_PORT": str(metrics_port),
            "AIWFE_WORKER_METRICS_DIR": str(folder / "metrics"),
            "AIWFE_WORKER_NAME": node,
            "AIWFE_WORKER_CONCURRENCY": "2",
            "AIWFE_SMTP_PORT": str(settings.smtp_port),
            "AIWFE_OUTBOUND_ALLOW_NETWORKS": "127.0.0.1/32",
            # Tests scan with their own clock; a scan at the worker's start would race them.
            "AIWFE_REMINDERS_SCAN_ON_WORKER_START": "false",
        }
        full_env = process_env(settings, **{**defaults, **env})
        log = folder / "worker.log"
        with log.open("wb") as handle:
            proc = subprocess.Popen(
                [aiwfe_bin, "worker"],
                env=full_env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        running = RunningProcess(proc, log, full_env, metrics_port, node)
        started.append(running)
        wait_for_key(settings, heartbeat_key("worker", node))
        return running

    yield start
    for running in started:
        if running.proc.poll() is None:
            stop(running.proc)


def kill_group(running: RunningProcess) -> None:
    os.killpg(running.proc.pid, signal.SIGKILL)
    running.proc.wait(30)


async def wait_until(check: Callable[[], Any], limit: float = 120.0) -> Any:
    """Poll an async ``check`` until it returns something truthy (a bound on waiting, not on speed)."""
    deadline = time.monotonic() + limit
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {limit:g}s: {check.__name__}")
        await asyncio.sleep(0.2)


async def configure_webhook(caller: Caller, url: str) -> str:
    response = await caller.post("/api/v1/reminders/webhook", json={"url": url})
    assert response.status_code == 200, response.text
    secret: str = response.json()["secret"]
    return secret


async def statuses(sessions: Sessions) -> dict[uuid.UUID, tuple[DeliveryStatus, int]]:
    async with sessions() as db:
        rows = await db.execute(select(Delivery.id, Delivery.status, Delivery.attempts))
        return {row.id: (row.status, row.attempts) for row in rows}


# ---- exactly once ---------------------------------------------------------------------------------


async def test_two_workers_racing_over_duplicate_tasks_send_each_reminder_once(
    alice: Caller,
    sessions: Sessions,
    settings: Settings,
    receiver: Receiver,
    mail_sink: SmtpSink,
    start_worker: Callable[..., RunningProcess],
) -> None:
    start_worker("one")
    start_worker("two")
    secret = await configure_webhook(alice, receiver.url)
    now = datetime.now(UTC)  # real time: the worker processes send on it
    for n in range(6):
        event = await timed_event(alice, now + timedelta(minutes=10), summary=f"race {n}")
        await remind(alice, event["id"], (10, "webhook"), (10, "in_app"), (10, "email"))
    await set_mark(sessions, now - timedelta(minutes=1))
    result = await scan(sessions, settings, now)
    assert len(result.to_send) == 18

    # Every delivery handed out three times (scans racing, a redelivery...) to two workers at once.
    celery = create_celery(settings)
    for _ in range(3):
        enqueue_sends(celery, result.to_send)

    async def all_sent() -> bool:
        return all(state is DeliveryStatus.SENT for state, _ in (await statuses(sessions)).values())

    await wait_until(all_sent)
    assert {attempts for _, attempts in (await statuses(sessions)).values()} == {1}  # one claim each
    async with sessions() as db:
        webhook_ids = [
            str(i) for i in await db.scalars(select(Delivery.id).where(Delivery.channel == "webhook"))
        ]
    assert sorted(receiver.keys()) == sorted(webhook_ids)  # 6 requests, 6 different keys
    for request in receiver.requests:
        assert webhook.verify(secret, request.body, request.headers)  # the Standard Webhooks way
        assert webhook.legacy_sign(secret, request.body) == request.headers["X-Aiwfe-Signature"]
        payload = json.loads(request.body)
        assert payload["delivery_id"] == request.headers["webhook-id"] == request.headers["Idempotency-Key"]
        assert payload["summary"].startswith("race ")
        assert payload["late"] is False
    async with sessions() as db:
        assert await db.scalar(select(func.count()).select_from(Notification)) == 6
    mails = [m for m in mail_sink.messages() if m["Subject"].startswith("Reminder: race ")]
    assert len(mails) == 6
    assert len({m["Message-ID"] for m in mails}) == 6


async def test_a_worker_killed_mid_send_is_resent_once_after_restart_with_the_same_key(
    alice: Caller,
    sessions: Sessions,
    settings: Settings,
    start_worker: Callable[..., RunningProcess],
) -> None:
    receiver = Receiver(hold_first=True).start()
    try:
        lease = "3"  # short, so the test does not wait two minutes for the claim to lapse
        short = settings.model_copy(update={"reminders_lease_seconds": int(lease)})
        first = start_worker("doomed", AIWFE_REMINDERS_LEASE_SECONDS=lease)
        secret = await configure_webhook(alice, receiver.url)
        now = datetime.now(UTC)  # real time: the worker processes claim and send on it
        event = await timed_event(alice, now + timedelta(minutes=5), summary="survives a crash")
        await remind(alice, event["id"], (5, "webhook"))
        await set_mark(sessions, now - timedelta(minutes=1))
        (delivery_id,) = (await scan(sessions, short, now)).to_send
        enqueue_sends(create_celery(settings), [delivery_id])

        async def request_in_flight() -> bool:
            return len(receiver.requests) == 1

        await wait_until(request_in_flight)
        kill_group(first)  # the worker dies while its POST waits for an answer
        assert (await statuses(sessions))[delivery_id] == (DeliveryStatus.SENDING, 1)

        start_worker("successor", AIWFE_REMINDERS_LEASE_SECONDS=lease)

        async def handed_out_again() -> list[uuid.UUID]:
            return (await scan(sessions, short, datetime.now(UTC))).to_send

        # Beat's next scans find the lapsed claim and hand the row to the live worker.
        assert await wait_until(handed_out_again) == [delivery_id]
        enqueue_sends(create_celery(settings), [delivery_id])

        async def sent() -> bool:
            return (await statuses(sessions))[delivery_id][0] is DeliveryStatus.SENT

        await wait_until(sent)
        assert (await statuses(sessions))[delivery_id] == (DeliveryStatus.SENT, 2)
        # Two POSTs reached the receiver, byte-identical and with one Idempotency-Key: it keeps one.
        assert receiver.keys() == [str(delivery_id), str(delivery_id)]
        assert receiver.requests[0].body == receiver.requests[1].body
        assert all(webhook.verify(secret, r.body, r.headers) for r in receiver.requests)
        assert len(set(receiver.keys())) == 1
    finally:
        receiver.stop()


# ---- webhook retries and circuit breaker (in process) -------------------------------------------


async def _one_webhook_delivery(
    alice: Caller, sessions: Sessions, settings: Settings, receiver: Receiver, at: datetime
) -> uuid.UUID:
    await configure_webhook(alice, receiver.url)
    event = await timed_event(alice, at + timedelta(minutes=10))
    await remind(alice, event["id"], (10, "webhook"))
    await set_mark(sessions, at - timedelta(minutes=1))
    (delivery_id,) = (await scan(sessions, settings, at)).to_send
    return delivery_id


@pytest.mark.usefixtures("instant")
async def test_a_5xx_is_retried_with_backoff_and_the_receiver_sees_one_key(
    alice: Caller, sessions: Sessions, settings: Settings
) -> None:
    receiver = Receiver(statuses=[500, 503]).start()
    try:
        now = datetime.now(UTC)  # the clock the instant fixture moved
        delivery_id = await _one_webhook_delivery(alice, sessions, settings, receiver, now)
        assert await delivery.deliver(sessions, settings, delivery_id, lambda: now) == "sent"
        assert receiver.keys() == [str(delivery_id)] * 3
    finally:
        receiver.stop()


@pytest.mark.usefixtures("instant")
async def test_a_receiver_that_keeps_failing_is_retried_later_then_the_circuit_opens(
    alice: Caller, sessions: Sessions, settings: Settings
) -> None:
    receiver = Receiver(statuses=[500] * 10).start()
    tight = settings.model_copy(
        update={"reminders_webhook_attempts": 2, "reminders_webhook_breaker_threshold": 2}
    )
    try:
        now = datetime.now(UTC)  # the clock the instant fixture moved
        delivery_id = await _one_webhook_delivery(alice, sessions, tight, receiver, now)
        assert await delivery.deliver(sessions, tight, delivery_id, lambda: now) == "retry"
        assert len(receiver.requests) == 2
        async with sessions() as db:
            row = await db.get(Delivery, delivery_id)
        assert row is not None
        assert row.status is DeliveryStatus.PENDING
        assert row.lease_until == now + timedelta(seconds=settings.reminders_scan_seconds)
        assert "HTTP 500" in (row.error or "")

        # A circuit counts a call that failed after all its tries: the second such call opens it...
        base = timedelta(seconds=settings.reminders_scan_seconds)
        later = now + base
        assert (await scan(sessions, tight, later)).to_send == [delivery_id]
        assert await delivery.deliver(sessions, tight, delivery_id, lambda: later) == "retry"
        assert len(receiver.requests) == 4
        # ... and the third never leaves.
        last = later + 2 * base
        assert (await scan(sessions, tight, last)).to_send == [delivery_id]
        assert await delivery.deliver(sessions, tight, delivery_id, lambda: last) == "retry"
        assert len(receiver.requests) == 4
        async with sessions() as db:
            row = await db.get(Delivery, delivery_id)
        assert row is not None
        assert CircuitOpen.__name__ in (row.error or "")
        assert row.attempts == 3
    finally:
        receiver.stop()


async def test_a_starting_worker_scans_at_once_and_exports_the_lag_gauge(
    start_worker: Callable[..., RunningProcess],
) -> None:
    running = start_worker("fresh", AIWFE_REMINDERS_SCAN_ON_WORKER_START="true")

    async def lag_exported() -> str | None:
        try:
            async with httpx.AsyncClient(timeout=5) as http:
                text = (await http.get(f"http://127.0.0.1:{running.metrics_port}/metrics")).text
        except httpx.HTTPError:
            return None
        lines = [line for line in text.splitlines() if line.startswith("aiwfe_reminders_lag_seconds")]
        return lines[0] if lines else None

    # The alert RemindersLagging reads this series; it exists without waiting for beat's first tick.
    assert await wait_until(lag_exported, limit=60) == "aiwfe_reminders_lag_seconds 0.0"
    assert any('"reminders_scanned"' in line for line in running.log_lines())
