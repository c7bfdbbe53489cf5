from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from monitor.daemon.lock import StateLock, holder_pid
from monitor.errors import LockBusyError


def test_second_holder_is_refused_with_exit_75(tmp_path):
    first = StateLock(tmp_path).acquire()
    try:
        with pytest.raises(LockBusyError) as e:
            StateLock(tmp_path).acquire()
        assert e.value.exit_code == 75
        assert str(tmp_path / "leakmon.lock") in str(e.value)
        assert holder_pid(tmp_path) is not None
    finally:
        first.release()
    assert holder_pid(tmp_path) is None
    again = StateLock(tmp_path).acquire()
    again.release()


def test_lock_is_refused_across_processes(tmp_path):
    code = (
        "import sys; from monitor.daemon.lock import StateLock\n"
        "from monitor.errors import LockBusyError\n"
        "try:\n    StateLock(sys.argv[1]).acquire()\nexcept LockBusyError as e:\n"
        "    print(e); sys.exit(e.exit_code)\n"
    )
    with StateLock(tmp_path):
        proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)],
                              capture_output=True, text=True)
    assert proc.returncode == 75, proc.stderr
    assert "holds" in proc.stdout


def test_wait_gets_the_lock_once_released(tmp_path):
    first = StateLock(tmp_path).acquire()
    waited: list[float] = []

    def fake_sleep(seconds: float) -> None:
        waited.append(seconds)
        if len(waited) == 3:
            first.release()

    lock = StateLock(tmp_path).acquire(wait=60, sleep=fake_sleep)
    assert lock.held and len(waited) == 3
    lock.release()


def test_wait_runs_out(tmp_path):
    now = [0.0]

    def clock() -> float:
        return now[0]

    def sleep(s: float) -> None:
        now[0] += s

    with StateLock(tmp_path), pytest.raises(LockBusyError):
        StateLock(tmp_path).acquire(wait=1.0, poll=0.25, sleep=sleep, clock=clock)
    assert now[0] >= 1.0


def test_lock_released_when_holder_thread_context_exits(tmp_path):
    ready, done = threading.Event(), threading.Event()

    def hold() -> None:
        with StateLock(tmp_path):
            ready.set()
            done.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    ready.wait(10)
    with pytest.raises(LockBusyError):
        StateLock(tmp_path).acquire()
    done.set()
    t.join()
    StateLock(tmp_path).acquire().release()
    assert (tmp_path / "leakmon.lock").stat().st_mode & 0o077 == 0
