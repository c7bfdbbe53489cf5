from __future__ import annotations

import pytest

from monitor.config import parse_config
from tests.support.http import LocalHTTPServer


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
