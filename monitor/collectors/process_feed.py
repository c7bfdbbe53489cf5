"""A collector's page reader run in a child process, its items read back on the event loop.

Why: fetching and parsing pages (HTTP, HTML, text and links) costs a collector about as much
CPU per message as matching and storing it, and both held the same GIL; in a child process
the reading runs on the other core while this process matches and stores (the daemon path).

The contract is the one of an in-process reader task putting items on a bounded
`asyncio.Queue`: `ProcessFeed.get()` returns the items in the order the child sent them, the
child is at most `ahead` items ahead of the consumer (the loop stops reading the pipe, the
pipe fills, the child's `send` blocks), and a child that dies without saying it is done is an
error for the consumer (`CollectorError`), never a silent end: the collector then yields no
more batches, so the cursor its last batch would carry is not saved.

The children start from a forkserver (a clean single-threaded process, started once; the
daemon's own threads are never forked) that has already imported `PRELOAD`; each feed has
its own pipe and its own child, so a feed closed early (shutdown, error) cannot leak items
into the next one.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import multiprocessing
import os
import pickle
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from logging.handlers import QueueHandler
from multiprocessing.connection import Connection
from typing import Any

from monitor.errors import CollectorError

log = logging.getLogger(__name__)

# What the forkserver imports once, so that a child starts reading at once.
PRELOAD = ["monitor.collectors.reader_preload"]

Reader = Callable[..., Awaitable[None]]  # async reader(*args, out) with `await out.put(item)`

def context() -> multiprocessing.context.ForkServerContext:
    """The forkserver context, with `PRELOAD` set before the server first starts."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def start_server() -> None:
    """Start the forkserver now if it is not running (once per process; ~0.2 s)."""
    context()
    from multiprocessing import forkserver
    forkserver.ensure_running()  # under the server's own lock: one server


def prestart() -> None:
    """`start_server()` in the background (the daemon's start-up), so that the first feed
    does not wait for its imports."""
    def start() -> None:
        try:
            start_server()
        except Exception as e:  # the first feed will report it
            log.debug("forkserver start failed: %s", e)

    threading.Thread(target=start, name="leakmon-forkserver-start", daemon=True).start()


def worth_a_process() -> bool:
    """A child process pays only with a second CPU to run it on."""
    try:
        return len(os.sched_getaffinity(0)) > 1
    except AttributeError:  # not Linux
        return (os.cpu_count() or 1) > 1


class ReaderUnavailable(CollectorError):
    """No reader process could be started (the caller may read in-process instead)."""


@dataclass(frozen=True, slots=True)
class _Log:
    """A log record of the child, handled by the parent's logging (its handlers, format)."""

    record: logging.LogRecord


class _PipeLog(logging.Handler):
    """The child's log handler: records go to the parent, formatted as QueueHandler does."""

    def __init__(self, out: _Sender) -> None:
        super().__init__()
        self.out = out

    def emit(self, record: logging.LogRecord) -> None:
        try:
            record = QueueHandler.prepare(self, record)  # type: ignore[arg-type]
            self.out.send(_Log(record))
        except Exception:
            self.handleError(record)


@dataclass(frozen=True, slots=True)
class _Done:
    """The child's last message: it finished, the CPU seconds it used and the seconds it
    waited for the consumer (its sends blocked on a full pipe)."""

    cpu_s: float
    blocked_s: float = 0.0


class _Sender:
    """The child's end: `put(item)` pickles the item down the pipe (blocking when it is
    full: that is the back-pressure). An item that cannot be pickled goes as an error."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.blocked_s = 0.0  # wall seconds in send: the pipe was full (the consumer behind)

    async def put(self, item: Any) -> None:
        self.send(item)

    def send(self, item: Any) -> None:
        try:
            data = pickle.dumps(item, pickle.HIGHEST_PROTOCOL)
        except Exception as e:
            data = pickle.dumps(CollectorError(
                f"reader process: cannot send a {type(item).__name__} back: {e}"))
        t0 = time.perf_counter()
        self.conn.send_bytes(data)
        self.blocked_s += time.perf_counter() - t0


def _levels() -> dict[str, int]:
    """The parent's levels the child's loggers take (records below them are not sent)."""
    return {name: logging.getLogger(name).getEffectiveLevel() for name in ("", "monitor")}


def _child(reader: Reader, args: tuple, conn: Connection, levels: dict[str, int]) -> None:
    out = _Sender(conn)
    logging.getLogger().handlers[:] = [_PipeLog(out)]
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)

    async def main() -> None:
        await reader(*args, out)
        await out.put(_Done(time.process_time(), out.blocked_s))

    try:
        asyncio.run(main())
    finally:
        conn.close()


class ProcessFeed:
    """`reader(*args, out)` run in a child process; `await get()` gives what it put.

    Use as `async with ProcessFeed(...) as feed:`; leaving the block (normally, or early
    when the consumer stops) ends the child.
    """

    def __init__(self, reader: Reader, args: tuple, *, ahead: int, name: str) -> None:
        self._reader, self._args, self._ahead, self._name = reader, args, ahead, name
        self._items: collections.deque[Any] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._reading = False
        self._eof = False
        self._done: _Done | None = None
        self.starved_s = 0.0  # wall seconds get() waited for the child (it was behind)
        self._conn: Connection | None = None
        self._proc: multiprocessing.process.BaseProcess | None = None

    async def __aenter__(self) -> ProcessFeed:
        ctx = context()
        loop = asyncio.get_running_loop()
        conn = child_end = None
        try:
            conn, child_end = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_child,
                               args=(self._reader, self._args, child_end, _levels()),
                               name=self._name, daemon=True)
            # off the loop: a round trip to the forkserver (its start, the first time)
            await loop.run_in_executor(None, proc.start)
        except Exception as e:
            if conn is not None:
                conn.close()
            raise ReaderUnavailable(f"{self._name}: cannot start the reader process: "
                                    f"{type(e).__name__}: {e}") from None
        finally:
            if child_end is not None:
                child_end.close()
        self._conn, self._proc, self._loop = conn, proc, loop
        self._resume()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._pause()
        proc, conn = self._proc, self._conn
        if proc is not None:
            if proc.is_alive():
                proc.terminate()  # closed early: the rest of its reading is not wanted
            await self._loop.run_in_executor(None, proc.join)
        if conn is not None:
            conn.close()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def child_cpu_s(self) -> float | None:
        """CPU seconds the child used, once it has finished (for the benches' per-CPU figures)."""
        return self._done.cpu_s if self._done is not None else None

    @property
    def child_blocked_s(self) -> float | None:
        """Seconds the child waited for this side (full pipe), once it has finished."""
        return self._done.blocked_s if self._done is not None else None

    @property
    def exitcode(self) -> int | None:
        """None while the child runs (or before it starts)."""
        return self._proc.exitcode if self._proc is not None else None

    # -- reading the pipe on the loop ---------------------------------------------------------

    def _resume(self) -> None:
        if not self._reading and not self._eof:
            assert self._conn is not None
            self._loop.add_reader(self._conn.fileno(), self._readable)
            self._reading = True

    def _pause(self) -> None:
        if self._reading:
            assert self._conn is not None
            self._loop.remove_reader(self._conn.fileno())
            self._reading = False

    def _readable(self) -> None:
        conn = self._conn
        assert conn is not None
        try:
            while len(self._items) < self._ahead and conn.poll():
                item = pickle.loads(conn.recv_bytes())
                if isinstance(item, _Log):
                    record = item.record
                    logger = logging.getLogger(record.name)
                    if logger.isEnabledFor(record.levelno):
                        logger.handle(record)
                    continue
                if isinstance(item, _Done):
                    self._done, self._eof = item, True
                    break
                self._items.append(item)
        except (EOFError, OSError):
            self._eof = True  # the child ended without its _Done (see get)
        if self._eof or len(self._items) >= self._ahead:
            self._pause()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self) -> Any:
        """The next item the child put. Raises CollectorError when the child ended without
        finishing; after the child's last item, there is nothing more to get."""
        while not self._items:
            if self._done is not None:
                raise CollectorError(f"{self._name}: the reader process has no more items")
            if self._eof:
                raise await self._died()
            self._waiter = self._loop.create_future()
            t0 = time.perf_counter()
            try:
                await self._waiter
            finally:
                self._waiter = None
                self.starved_s += time.perf_counter() - t0
        item = self._items.popleft()
        self._resume()
        return item

    async def _died(self) -> CollectorError:
        proc = self._proc
        code = None
        if proc is not None:
            with contextlib.suppress(Exception):
                await self._loop.run_in_executor(None, proc.join, 10.0)
                code = proc.exitcode
        return CollectorError(f"{self._name}: the reader process ended before its last page "
                              f"(exit code {code}); this run's cursor is not saved")


class TaskFeed:
    """The same feed in this process: `reader(*args, out)` as a task on the loop, `out` a
    bounded asyncio.Queue (for a collector given its own HTTP client, or one CPU)."""

    def __init__(self, reader: Reader, args: tuple, *, ahead: int) -> None:
        self._queue: asyncio.Queue[Any] = asyncio.Queue(ahead)
        self._reader, self._args = reader, args
        self._task: asyncio.Future[None] | None = None

    async def __aenter__(self) -> TaskFeed:
        self._task = asyncio.ensure_future(self._reader(*self._args, self._queue))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()  # closed early (shutdown) or failed: stop reading ahead
        with contextlib.suppress(BaseException):
            await self._task

    async def get(self) -> Any:
        return await self._queue.get()
