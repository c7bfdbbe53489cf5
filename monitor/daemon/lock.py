"""The state-directory lock: one leakmon process at a time touches the database and sessions.

A cron `leakmon once`, a second daemon and the running daemon must never work over each other
(two Telegram clients on one session file get the account logged out; two collectors on one
cursor repeat documents). `fcntl.flock` on `<state_dir>/leakmon.lock` gives exactly that and is
released by the kernel when the process dies, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from monitor.errors import LockBusyError, StateDirError

LOCK_NAME = "leakmon.lock"


class StateLock:
    """An exclusive, non-blocking flock on `<state_dir>/leakmon.lock`.

    `acquire(wait=0)` raises LockBusyError (exit status 75) when another process holds it and
    `wait` seconds ran out. The holder's pid is written into the file for `status`/humans.
    """

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(
        self,
        wait: float = 0.0,
        *,
        poll: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> StateLock:
        if self._fd is not None:
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as e:
            raise StateDirError(f"cannot open lock file {self.path}: {e.strerror}") from None
        deadline = clock() + max(0.0, wait)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if clock() >= deadline:
                    holder = _read_pid(fd)
                    os.close(fd)
                    who = f" (pid {holder})" if holder else ""
                    raise LockBusyError(
                        f"another leakmon process{who} holds {self.path}; "
                        f"is the daemon running? (use --wait SECONDS to wait for it)"
                    ) from None
                sleep(min(poll, max(0.0, deadline - clock())) or poll)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> StateLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def holder_pid(state_dir: Path) -> int | None:
    """The pid written by the current holder, or None when nobody holds the lock."""
    path = Path(state_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None
