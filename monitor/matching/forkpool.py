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

A worker that dies (killed by a signal, out of memory) closes its result pipe: the map
raises `WorkerDied` once the results before that worker's pending task are given out. An
exception raised by the task function is raised in the parent. Workers ignore SIGINT: on
Ctrl-C the parent's KeyboardInterrupt ends the map, which stops and reaps every worker.
"""

from __future__ import annotations

import multiprocessing
import pickle
import signal
from collections import deque
from collections.abc import Callable, Generator, Iterable
from multiprocessing.connection import Connection, wait
from typing import Any

AHEAD = 2  # tasks in flight per worker: one being worked on, one waiting in its pipe


class WorkerDied(Exception):
    """A worker process ended before giving back the result of a task it was sent."""


def fork_available() -> bool:
    """Whether worker processes can be forked here (not on Windows, for one)."""
    return "fork" in multiprocessing.get_all_start_methods()


def ordered_map(fn: Callable[[Any], Any], tasks: Iterable[Any], jobs: int) -> Generator[Any, None, None]:
    """`fn(task)` for every task, computed by `jobs` forked processes, yielded in task order.

    `tasks` is consumed lazily, as workers need more (the caller may still be finding
    them); tasks and results go through pipes pickled, so keep them compact (strings, lists
    of numbers), not one object per item. Close the iterator (or exhaust it) to stop the
    workers: a `with contextlib.closing(...)` when the consumer may stop early."""
    ctx = multiprocessing.get_context("fork")
    workers: list[_Worker] = []
    finished = False
    try:
        for _ in range(max(1, jobs)):
            workers.append(_Worker.start(ctx, fn, workers))
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
        by_conn: dict[Any, _Worker] = {w.results: w for w in workers}
        end = None  # the first task a dead worker took with it
        while given < (sent if end is None else end):
            busy = [w.results for w in workers if w.pending and w.alive]
            for conn in wait(busy):
                w = by_conn[conn]
                try:
                    index, answer = w.receive()
                except WorkerDied:
                    w.alive = more = False
                    end = w.pending[0] if end is None else min(end, w.pending[0])
                    continue
                results[index] = answer
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
    """One forked worker: the parent's ends of its task and result pipes, and the tasks it
    was sent and has not answered yet (in the order sent: a worker answers in order)."""

    def __init__(self, process: Any, tasks: Connection, results: Connection) -> None:
        self.process = process
        self.tasks = tasks
        self.results = results
        self.pending: deque[int] = deque()
        self.alive = True

    @classmethod
    def start(cls, ctx: Any, fn: Callable[[Any], Any], others: list[_Worker]) -> _Worker:
        task_r, task_w = ctx.Pipe(duplex=False)
        result_r, result_w = ctx.Pipe(duplex=False)
        # The child closes the parent's ends of every pipe, its siblings' included: a
        # worker's death must close its result pipe for good (EOF in the parent), and a
        # closed task pipe must reach the worker as EOF.
        parent_ends = [task_w, result_r, *(c for o in others for c in (o.tasks, o.results))]
        process = ctx.Process(target=_serve, args=(fn, task_r, result_w, parent_ends),
                              daemon=True, name="leakmon-worker")
        process.start()
        task_r.close()
        result_w.close()
        return cls(process, task_w, result_r)

    def send(self, task: Any) -> bool:
        """Write the worker a task; False when it is gone (a broken pipe)."""
        try:
            self.tasks.send_bytes(pickle.dumps(task, pickle.HIGHEST_PROTOCOL))
        except OSError:
            return False
        return True

    def receive(self) -> tuple[int, tuple[bool, Any]]:
        """The next answer, (True, result) or (False, exception), and its task's index."""
        try:
            answer = pickle.loads(self.results.recv_bytes())
        except (EOFError, OSError):
            raise WorkerDied from None
        return self.pending.popleft(), answer

    def stop(self, *, kill: bool) -> None:
        """End the worker (at once when `kill`, else once it has read all its tasks) and
        reap it."""
        self.tasks.close()
        if kill and self.process.is_alive():
            self.process.terminate()
        self.process.join()
        self.results.close()
        self.process.close()


def _serve(fn: Callable[[Any], Any], tasks: Connection, results: Connection,
           parent_ends: list[Connection]) -> None:
    """A worker's life: answer tasks in order until the task pipe is closed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    for conn in parent_ends:
        conn.close()
    while True:
        try:
            task = pickle.loads(tasks.recv_bytes())
        except EOFError:
            return
        try:
            answer = (True, fn(task))
        except Exception as e:  # given back to the parent, which raises it
            answer = (False, e)
        try:
            data = pickle.dumps(answer, pickle.HIGHEST_PROTOCOL)
        except Exception as e:  # an unpicklable exception: its text, at least
            data = pickle.dumps((False, RuntimeError(f"{type(e).__name__}: {e}")))
        try:
            results.send_bytes(data)
        except BrokenPipeError:  # the parent is gone
            return
