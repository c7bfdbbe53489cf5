"""What the page readers' forkserver loads once (process_feed.PRELOAD), so that each reader
process forked from it starts reading at once: the collector, the HTTP stack httpx imports on
its first request, and the TLS context every client shares (built here, before the forks)."""

import anyio._backends._asyncio  # noqa: F401
import h11  # noqa: F401
import httpcore  # noqa: F401

import monitor.collectors.telegram_web  # noqa: F401
from monitor.collectors.http_client import tls_context

tls_context()
