"""The event-loop lag sampler: a blocked loop shows up in aiwfe_event_loop_lag_seconds and in the log."""

from __future__ import annotations

import asyncio
import time

from httpx import AsyncClient
from prometheus_client import REGISTRY

from aiwfe.core.metrics import sample_event_loop_lag


def _count(le: str) -> float:
    value = REGISTRY.get_sample_value("aiwfe_event_loop_lag_seconds_bucket", {"le": le})
    return value or 0.0


async def test_a_blocking_call_is_measured_as_lag() -> None:
    stalls: list[float] = []
    above_quarter = _count("+Inf") - _count("0.25")
    sampler = asyncio.create_task(sample_event_loop_lag(0.01, report_above=0.2, on_stall=stalls.append))
    try:
        await asyncio.sleep(0.05)  # a few quiet samples first
        time.sleep(0.4)  # noqa: ASYNC251 (the point: hold the loop as a blocking call would)
        await asyncio.sleep(0.05)
    finally:
        sampler.cancel()
    assert stalls
    assert max(stalls) >= 0.3
    assert _count("+Inf") - _count("0.25") > above_quarter


async def test_the_api_samples_the_lag_while_it_runs(client: AsyncClient) -> None:
    before = REGISTRY.get_sample_value("aiwfe_event_loop_lag_seconds_count") or 0.0
    await asyncio.sleep(0.6)  # the lifespan's sampler wakes every 0.25 s
    text = (await client.get("/metrics")).text
    assert "aiwfe_event_loop_lag_seconds_bucket" in text
    after = REGISTRY.get_sample_value("aiwfe_event_loop_lag_seconds_count") or 0.0
    assert after - before >= 2
