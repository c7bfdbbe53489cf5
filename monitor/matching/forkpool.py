"""An ordered map over forked worker processes whose parent stays nearly idle.

`leakmon scan` of a folder of 30,000 small messages on two cores: whatever CPU the parent
spends is taken from the workers. `concurrent.futures.ProcessPoolExecutor` cost the parent
0.3 CPU-s there (its manager and queue-feeder threads fighting for the GIL, a future and a
work item per task); `multiprocessing.Pool` more (its handler thread spins on the result
pipe while results wait). Here the parent runs no thread at all: it forks the workers once
(each inherits whatever the parent has loaded, e.g. a compiled engine, copy-on-write), writes
each worker its tasks down its own pipe, keeps `AHEAD` tasks in flight per worker so none
waits for the parent, and sleeps in one `select` on the workers' result pipes. A task goes
to the worker that finished one, so fast and slow tasks balance; the results are put back
in task order.

Plain `os.fork` and `os.pipe`, no `multiprocessing`: its import alone is ~10 ms of every scan
start. A worker that dies (killed by a signal, out of memory) closes its result pipe: the map
raises `WorkerDied` once the results before that worker's pending task are given out. An
exception raised by the task function is raised in the parent. Workers ignore SIGINT: on
Ctrl-C the parent's KeyboardInterrupt ends the map, which stops and reaps every worker.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import struct
from collections import deque
from collections.abc import Callable, Generator, Iterable
from typing import Any

AHEAD = 2  # tasks in flight per worker: one being worked on, one waiting in its pipe
# A message down a pipe: its length (8 bytes, big-endian), then its pickle. Written and read
# with os.write/os.read on the raw descriptors: `multiprocessing` and its Connection would add
# ~10 ms of imports to every scan start, serial time before the workers run.
_HEADER = struct.Struct("!Q")
_READ_SIZE = 1 << 20


class WorkerDied(Exception):
    """A worker process ended before giving back the result of a task it was sent."""


def fork_available() -> bool:
    """Whether worker processes can be forked here (not on Windows, for one)."""
    return hasattr(os, "fork") and hasattr(os, "waitpid")


def ordered_map(fn: Callable[[Any], Any], tasks: Iterable[Any], jobs: int) -> Generator[Any, None, None]:
    """`fn(task)` for every task, computed by `jobs` forked processes, yielded in task order.

    `tasks` is consumed lazily, as workers need more (the caller may still be finding
    them); tasks and results go through pipes pickled, so keep them compact (strings, lists
    of numbers), not one object per item. Close the iterator (or exhaust it) to stop the
    workers: a `with contextlib.closing(...)` when the consumer may stop early."""
    workers: list[_Worker] = []
    finished = False
    try:
        for _ in range(max(1, jobs)):
            workers.append(_Worker.start(fn, workers))
        source = iter(tasks)
        results: dict[int, Any] = {}
        sent = given = 0
        more = True

        def feed(w: _Worker) -> None:
            nonlocal sent, more
            while more and len(w.pending) < AHEAD:
                task = next(source, _END)
                if task is _END:
                    more = False
                    return
                w.pending.append(sent)
                sent += 1
                if not w.send(task):  # it is dead: its result pipe will say so
                    more = False

        for w in workers:
            feed(w)
        by_fd: dict[int, _Worker] = {w.results: w for w in workers}
        end = None  # the first task a dead worker took with it
        while given < (sent if end is None else end):
            poller = select.poll()  # not select.select: no limit on descriptor numbers
            for w in workers:
                if w.pending and w.alive:
                    poller.register(w.results, select.POLLIN)
            for fd, _event in poller.poll():
                w = by_fd[fd]
                try:
                    answers = w.receive()
                except WorkerDied:
                    w.alive = more = False
                    end = w.pending[0] if end is None else min(end, w.pending[0])
                    continue
                for answer in answers:  # one read may hold several
                    results[w.pending.popleft()] = answer
                    feed(w)
                    while given in results:
                        ok, value = results.pop(given)
                        given += 1
                        if not ok:
                            raise value
                        yield value
        if end is not None:
            raise WorkerDied
        finished = True
    finally:
        for w in workers:
            w.stop(kill=not finished)


_END = object()


class _Worker:
    """One forked worker: its pid, the parent's ends of its task and result pipes, what was
    read of its results and not yet framed, and the tasks it was sent and has not answered
    yet (in the order sent: a worker answers in order)."""

    def __init__(self, pid: int, tasks: int, results: int) -> None:
        self.pid = pid
        self.tasks = tasks
        self.results = results
        self.buffer = bytearray()
        self.pending: deque[int] = deque()
        self.alive = True

    @classmethod
    def start(cls, fn: Callable[[Any], Any], others: list[_Worker]) -> _Worker:
        task_r, task_w = os.pipe()
        result_r, result_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker: it never returns into the caller's code
            code = 1
            try:
                # The child closes the parent's ends of every pipe, its siblings' included: a
                # worker's death must close its result pipe for good (EOF in the parent), and
                # a closed task pipe must reach the worker as EOF.
                for fd in (task_w, result_r, *(f for o in others for f in (o.tasks, o.results))):
                    os.close(fd)
                _serve(fn, task_r, result_w)
                code = 0
            finally:
                os._exit(code)  # no atexit handlers, no flush of the parent's buffers
        os.close(task_r)
        os.close(result_w)
        return cls(pid, task_w, result_r)

    def send(self, task: Any) -> bool:
        """Write the worker a task; False when it is gone (a broken pipe)."""
        try:
            _write(self.tasks, pickle.dumps(task, pickle.HIGHEST_PROTOCOL))
        except OSError:
            return False
        return True

    def receive(self) -> list[tuple[bool, Any]]:
        """The answers whose bytes are all in, (True, result) or (False, exception), in
        task order, after one read of the result pipe (which poll found readable);
        WorkerDied at the end of the pipe."""
        try:
            chunk = os.read(self.results, _READ_SIZE)
        except OSError:
            chunk = b""
        if not chunk:
            raise WorkerDied
        buf = self.buffer
        buf += chunk
        out = []
        pos = 0
        with memoryview(buf) as view:  # released before the bytearray is resized
            while len(buf) - pos >= _HEADER.size:
                (size,) = _HEADER.unpack_from(buf, pos)
                start = pos + _HEADER.size
                if len(buf) - start < size:
                    break
                out.append(pickle.loads(view[start:start + size]))
                pos = start + size
        if pos:
            del buf[:pos]
        return out

    def stop(self, *, kill: bool) -> None:
        """End the worker (at once when `kill`, else once it has read all its tasks) and
        reap it."""
        os.close(self.tasks)
        if kill:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:  # pragma: no cover (already reaped by someone else)
                pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:  # pragma: no cover (reaped by a SIGCHLD handler)
            pass
        os.close(self.results)


def _write(fd: int, payload: bytes) -> None:
    """One framed message down a pipe (os.write may take part of it)."""
    view = memoryview(_HEADER.pack(len(payload)) + payload)
    while view:
        view = view[os.write(fd, view):]


def _read_exactly(fd: int, size: int) -> bytes | None:
    """`size` bytes from a pipe; None at its end before the first byte."""
    parts = []
    left = size
    while left:
        chunk = os.read(fd, min(left, _READ_SIZE))
        if not chunk:
            if left == size:
                return None
            raise EOFError("a task pipe ended in the middle of a message")
        parts.append(chunk)
        left -= len(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _serve(fn: Callable[[Any], Any], tasks: int, results: int) -> None:
    """A worker's life: answer tasks in order until the task pipe is closed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    while True:
        header = _read_exactly(tasks, _HEADER.size)
        if header is None:
            return
        (size,) = _HEADER.unpack(header)
        task = pickle.loads(_read_exactly(tasks, size) or b"")
        try:
            answer = (True, fn(task))
        except Exception as e:  # given back to the parent, which raises it
            answer = (False, e)
        try:
            data = pickle.dumps(answer, pickle.HIGHEST_PROTOCOL)
        except Exception as e:  # an unpicklable exception: its text, at least
            data = pickle.dumps((False, RuntimeError(f"{type(e).__name__}: {e}")))
        try:
            _write(results, data)
        except BrokenPipeError:  # the parent is gone
            return
