from __future__ import annotations

import asyncio

import pytest

from collectors.servers import LocalHTTPServer
from monitor.config import parse_config


@pytest.fixture
def server():
    srv = LocalHTTPServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def config():
    """Defaults with retries that never really sleep (tests inject their own sleep)."""
    return parse_config({"network": {"timeout": 10.0, "retries": 2}})


class SleepRecorder:
    """Stands in for asyncio.sleep: records the waits asked for, returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps():
    return SleepRecorder()


def run(coro):
    return asyncio.run(coro)


async def drain(collector, cursor=None):
    """All batches of one collect, then close the collector."""
    try:
        return [b async for b in collector.collect(cursor)]
    finally:
        await collector.aclose()
