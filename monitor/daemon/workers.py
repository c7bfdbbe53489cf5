"""Threads that run blocking work off the event loop, sharing ONE store connection.

Scanning is CPU-bound and SQLite is blocking: both must stay off the asyncio loop that drives
the collectors, or one big dump would stall every other source's network I/O. Each
`StoreThread` is one worker thread (pipeline, delivery); callables submitted to it run there in
order.

Why one connection per process, shared: SQLite's locks are POSIX advisory locks, which belong
to the process, and closing ANY descriptor of the database file drops all of them. Opening a
second connection in the same process (Store.open touches the file to set its mode) can thus
silently release the locks of the first; another process (`leakmon status`, `alerts ack`) that
closes its connection then believes it is the last one and checkpoints and deletes the WAL,
and the daemon's later commits go to an unlinked file. One `Store` opened once per process (it
serializes calls with its own lock and allows use from several threads) avoids all of that.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias, TypeVar

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.store import Store

log = logging.getLogger(__name__)

T = TypeVar("T")

StoreOpener: TypeAlias = "Callable[[Path], Store]"  # opens the store of a state directory

DB_NAME = "leakmon.db"


def db_path(state_dir: Path) -> Path:
    return Path(state_dir) / DB_NAME


def open_store(state_dir: Path) -> Store:
    """`monitor.store.Store.open(<state_dir>/leakmon.db)` with default `[store]` settings."""
    from monitor.store import Store

    return Store.open(db_path(state_dir))


def store_opener(config: Config) -> StoreOpener:
    """An opener honoring the config's `[store]` section (evidence keeping, retention)."""

    def opener(state_dir: Path) -> Store:
        from monitor.store import Store

        return Store.from_config(config, Path(state_dir))

    return opener


class SharedStore:
    """The process's one store connection, opened on first use, closed once at the end."""

    def __init__(self, state_dir: Path, opener: StoreOpener = open_store) -> None:
        self.state_dir = Path(state_dir)
        self._opener = opener
        self._store: Store | None = None
        self._lock = threading.Lock()

    def get(self) -> Store:
        with self._lock:
            if self._store is None:
                self._store = self._opener(self.state_dir)
            return self._store

    def close(self) -> None:
        with self._lock:
            store, self._store = self._store, None
        closer = getattr(store, "close", None)
        if callable(closer):
            try:
                closer()
            except Exception:  # closing must never mask the real outcome
                log.exception("closing the store failed")


class StoreThread:
    """One named worker thread; `call(fn)` runs `fn(store)` there."""

    def __init__(self, shared: SharedStore, name: str) -> None:
        self.shared = shared
        self.name = name
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"leakmon-{name}")
        self._closed = False
        self._busy_since: float | None = None

    def busy_for(self) -> float:
        """Seconds the current call has been running (0 when idle): a wedged scan or a stuck
        SQLite lock shows here, and the daemon stops feeding the systemd watchdog."""
        since = self._busy_since
        return 0.0 if since is None else time.monotonic() - since

    def _invoke(self, fn: Callable[[Store], T]) -> T:
        self._busy_since = time.monotonic()
        try:
            return fn(self.shared.get())
        finally:
            self._busy_since = None

    async def call(self, fn: Callable[[Store], T]) -> T:
        """Run `fn(store)` on this thread; the result (or exception) comes back to the loop.

        Cancelling the awaiting task does not interrupt `fn`: a batch that started committing
        finishes committing, which is what keeps cursor and documents consistent.
        """
        if self._closed:
            raise RuntimeError(f"worker thread {self.name} is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._invoke, fn)

    def close(self) -> None:
        """Stop the thread once its queued work is done (the shared store stays open)."""
        if not self._closed:
            self._closed = True
            self._executor.shutdown(wait=True)
