"""``publish.warm``: the API's start-up does the first publish's one-time work (the app finalized, the result
backend, the broker connection), so no request does it in a thread that holds the GIL; an unreachable broker
does not stop the start."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import redis
from celery import Celery
from kombu import Connection
from pydantic import SecretStr

from aiwfe.core.settings import Settings
from aiwfe.worker.app import create_celery
from aiwfe.worker.publish import warm
from aiwfe.worker.tasks import ping
from aiwfe_stack.ports import free_ports


def _own_broker(settings: Settings, db: int) -> Iterator[Settings]:
    """``settings`` with a broker of this test's own: kombu keeps one producer pool per broker URL for the
    whole process, which any earlier test's publish would have warmed."""
    url = redis.Redis.from_url(settings.redis_url.get_secret_value()).connection_pool.connection_kwargs
    broker = f"redis://:{url.get('password') or ''}@{url['host']}:{url['port']}/{db}"
    yield settings.model_copy(update={"broker_url": SecretStr(broker)})
    with redis.Redis.from_url(broker) as client:
        client.flushdb()


@pytest.fixture
def warmed_broker(base_settings: Settings) -> Iterator[Settings]:
    yield from _own_broker(base_settings, 11)


@pytest.fixture
def cold_broker(base_settings: Settings) -> Iterator[Settings]:
    yield from _own_broker(base_settings, 12)


class Connecting(Exception):
    """Raised by the tripwire: a broker connection was made after start-up."""


def _publish_without_connecting(celery: Celery, monkeypatch: pytest.MonkeyPatch) -> None:
    def tripwire(self: Connection) -> None:
        raise Connecting

    with monkeypatch.context() as patched:
        patched.setattr(Connection, "_establish_connection", tripwire)
        celery.send_task(ping.name, kwargs={"payload": "warm"})


def test_after_warming_the_first_publish_makes_no_connection(
    warmed_broker: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    celery = create_celery(warmed_broker)
    assert asyncio.run(warm(celery))
    assert celery.finalized
    _publish_without_connecting(celery, monkeypatch)


def test_without_warming_the_first_publish_connects(
    cold_broker: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The tripwire itself works: what every API replica's first publishing request did before.
    with pytest.raises(Connecting):
        _publish_without_connecting(create_celery(cold_broker), monkeypatch)


def test_an_unreachable_broker_is_reported_and_start_up_goes_on(base_settings: Settings) -> None:
    (closed,) = free_ports(1)
    unreachable = base_settings.model_copy(update={"broker_url": SecretStr(f"redis://127.0.0.1:{closed}/0")})
    assert asyncio.run(warm(create_celery(unreachable))) is False
