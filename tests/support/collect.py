"""Driving a collector from a synchronous test: run a coroutine, drain one collect."""

from __future__ import annotations

import asyncio


def run(coro):
    return asyncio.run(coro)


async def drain(collector, cursor=None):
    """All batches of one collect, then close the collector."""
    try:
        return [b async for b in collector.collect(cursor)]
    finally:
        await collector.aclose()
