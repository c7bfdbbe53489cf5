"""`leakmon scan` with a pool of worker processes: the same output, in the same order, as the
serial scan, with the work really done in other processes."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal

import pytest

from monitor.filescan import batch, inputs
from monitor.matching import document_scan as scan_mod
from monitor.matching import forkpool
from tests.matching.test_scan_cli import HIT_TEXT, NIR_SPACED, RULES
from tests.support.cli import run_cli

N_FILES = 2 * inputs.SLICE_FILES + 37  # enough for the pool, and a last partial chunk


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules.toml").write_text(RULES.replace("1 85 03 75 123 456 59", NIR_SPACED))
    docs = tmp_path / "docs"
    for i in range(N_FILES):
        sub = docs / ("a" if i % 3 == 0 else "b/c" if i % 3 == 1 else "")
        sub.mkdir(parents=True, exist_ok=True)
        text = HIT_TEXT if i % 7 == 0 else f"message {i}: rien à signaler\n" * (1 + i % 40)
        (sub / f"m{i:04d}.txt").write_text(text)
    (docs / "empty.txt").write_bytes(b"")
    (docs / "bin.dat").write_bytes(b"\x00\x01\x02\x03" * 100)
    return tmp_path


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    return run_cli(capsys, "scan", "--rules", "rules.toml", *argv, "docs")


@pytest.mark.parametrize("fmt", [["--json"], []])
def test_pool_output_is_the_serial_output(folder, capsys, fmt):
    code1, serial, _ = _run(capsys, "--jobs", "1", *fmt)
    code2, pooled, _ = _run(capsys, "--jobs", "2", *fmt)
    assert (code1, code2) == (0, 0)
    if fmt:
        assert pooled == serial
        rows = [json.loads(line) for line in pooled.splitlines()]
        assert len(rows) == N_FILES + 2
        assert sum(bool(r["hits"]) for r in rows) == len(range(0, N_FILES, 7))
        assert [r["path"] for r in rows] == [r["path"] for r in
                                             map(json.loads, serial.splitlines())]
        for r in rows:
            assert {"path", "bytes", "hits"} <= r.keys()
            for h in r["hits"]:
                assert {"rule", "severity", "count", "excerpt"} <= h.keys()
    else:  # only the summary's timing differs
        timing = re.compile(r" in [0-9.]+ s;")
        assert timing.sub("", pooled) == timing.sub("", serial)
        assert "hit(s) in" in pooled


def test_the_pool_scans_in_other_processes(folder, capsys, monkeypatch, tmp_path):
    pids = tmp_path / "pids"
    real = scan_mod.scan_document

    def recording(engine, data, name, limits, **kw):  # looked up in the worker, not pickled
        with open(pids, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        return real(engine, data, name, limits, **kw)

    monkeypatch.setattr(scan_mod, "scan_document", recording)
    code, out, _ = _run(capsys, "--jobs", "2", "--json")
    assert code == 0 and len(out.splitlines()) == N_FILES + 2
    seen = [int(p) for p in pids.read_text().split()]
    assert len(seen) == N_FILES + 2
    assert os.getpid() not in seen and 1 <= len(set(seen)) <= 2


def test_a_failing_document_is_reported_in_place_by_the_pool(folder, capsys, monkeypatch):
    """An error in a worker is the serial scan's error: the same message, the others scanned,
    exit status 2."""
    real = scan_mod.scan_document

    def failing(engine, data, name, limits, **kw):
        if name.endswith("m0004.txt"):
            raise ValueError("broken on purpose")
        return real(engine, data, name, limits, **kw)

    monkeypatch.setattr(scan_mod, "scan_document", failing)
    code1, serial, err1 = _run(capsys, "--jobs", "1", "--json")
    code2, pooled, err2 = _run(capsys, "--jobs", "2", "--json")
    assert code1 == code2 == 2 and pooled == serial and err1 == err2
    assert "m0004.txt failed: ValueError: broken on purpose" in err2
    assert len(pooled.splitlines()) == N_FILES + 1


def test_stdin_and_few_inputs_scan_serially(tmp_path):
    few = [inputs.Input(str(i), str(i), 1) for i in range(10)]
    many = [inputs.Input(str(i), str(i), 1) for i in range(N_FILES)]
    assert batch.worker_count(4, few) == 1
    assert batch.worker_count(4, [*many, inputs.Input("-", None, 0)]) == 1
    assert batch.worker_count(3, many) == 3
    assert batch.worker_count(None, many) == len(os.sched_getaffinity(0))


def test_an_error_late_in_the_walk_is_reported_by_the_pool_run(folder, capsys):
    """The walk runs on while the workers scan its first slices: what it finds wrong past
    them (a link loop, sorted last) is reported and counted as in the serial scan."""
    late = folder / "docs" / "zz"
    late.mkdir()
    (late / "loop").symlink_to(late / "loop")
    (late / "last.txt").write_text(HIT_TEXT)
    code1, serial, err1 = _run(capsys, "--jobs", "1", "--json")
    code2, pooled, err2 = _run(capsys, "--jobs", "2", "--json")
    assert code1 == code2 == 2 and pooled == serial and err1 == err2
    assert "cannot read docs/zz/loop: Too many levels of symbolic links" in err2
    assert json.loads(pooled.splitlines()[-1])["path"] == "docs/zz/last.txt"
    assert len(pooled.splitlines()) == N_FILES + 3


def test_a_worker_killed_mid_scan_ends_the_scan_with_a_clear_error(folder, capsys,
                                                                   monkeypatch):
    """A worker killed by a signal (the OOM killer, an operator) must not hang the scan: the
    slices before it are printed whole, then one clear error and exit status 2."""
    real = scan_mod.scan_document

    def dying(engine, data, name, limits, **kw):
        if name.endswith("m0100.txt"):
            os.kill(os.getpid(), signal.SIGKILL)
        return real(engine, data, name, limits, **kw)

    monkeypatch.setattr(scan_mod, "scan_document", dying)
    code, out, err = _run(capsys, "--jobs", "2", "--json")
    assert code == 2
    assert "a scan worker process died" in err and "--jobs 1" in err
    rows = [json.loads(line) for line in out.splitlines()]  # only whole lines, in order
    assert all(not r["path"].endswith("m0100.txt") for r in rows)
    assert len(rows) % inputs.SLICE_FILES == 0 and len(rows) < N_FILES


# --- forkpool, the pool under the scan ------------------------------------------------------


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def _fds_left(before: set[str]) -> set[str]:
    """The fds open now that were not before (other tests' threads may close theirs)."""
    return _open_fds() - before


def _children() -> set[int]:
    """This process's children, reaped or not (a zombie is still listed)."""
    pid = os.getpid()
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return {int(c) for c in f.read().split()}


def _no_children_left(before: set[int]) -> bool:
    """No worker process left unreaped (other tests' children are not ours to check)."""
    return not _children() - before


def _square_with_pid(n: int) -> tuple[int, int]:
    return n * n, os.getpid()


def test_ordered_map_gives_every_result_in_task_order_from_other_processes():
    kids = _children()
    before = _open_fds()
    # uneven work: later tasks often finish first in the other worker
    out = list(forkpool.ordered_map(_square_with_pid, iter(range(200)), 2))
    assert [v for v, _ in out] == [n * n for n in range(200)]
    pids = {pid for _, pid in out}
    assert os.getpid() not in pids and len(pids) == 2
    assert not _fds_left(before) and _no_children_left(kids)


def test_an_exception_in_a_task_is_raised_in_its_place():
    kids = _children()
    def fn(n):
        if n == 50:
            raise KeyError("task 50")
        return n

    got = []
    with pytest.raises(KeyError, match="task 50"):
        for v in forkpool.ordered_map(fn, range(100), 2):
            got.append(v)
    assert got == list(range(50)) and _no_children_left(kids)


def test_a_killed_worker_ends_the_map_after_the_results_before_its_task():
    kids = _children()
    before = _open_fds()

    def fn(n):
        if n == 30:
            os.kill(os.getpid(), signal.SIGKILL)
        return n

    got = []
    with pytest.raises(forkpool.WorkerDied):
        for v in forkpool.ordered_map(fn, range(100), 2):
            got.append(v)
    assert got == list(range(30))
    assert not _fds_left(before) and _no_children_left(kids)


def test_workers_ignore_ctrl_c_and_a_consumer_that_stops_stops_them():
    """Ctrl-C reaches every process of the terminal's group: the workers leave it to the
    parent, whose KeyboardInterrupt ends the map and ends the workers, mid-task or not."""
    kids = _children()
    before = _open_fds()
    r, w = os.pipe()

    def fn(n):
        if n >= 10:
            os.read(r, 1)  # blocks for good: nobody writes
        return os.getpid()

    got = []
    with pytest.raises(KeyboardInterrupt), \
            contextlib.closing(forkpool.ordered_map(fn, range(100), 2)) as results:
        for pid in results:
            os.kill(pid, signal.SIGINT)  # ignored: the worker answers on
            got.append(pid)
            if len(got) == 10:
                raise KeyboardInterrupt
    os.close(r)
    os.close(w)
    assert len(got) == 10 and os.getpid() not in got
    assert not _fds_left(before) and _no_children_left(kids)


def test_tasks_are_taken_from_the_source_only_as_workers_need_them():
    kids = _children()
    taken = []

    def source():
        for n in range(1000):
            taken.append(n)
            yield n

    results = forkpool.ordered_map(_square_with_pid, source(), 1)
    assert next(results)[0] == 0
    assert len(taken) == forkpool.AHEAD + 1  # in flight, and the one sent for the answer
    results.close()
    assert _no_children_left(kids)


def _echo_big(n: int) -> bytes:
    return bytes([n % 251]) * (3 * 1024 * 1024 + n)  # several pipe buffers and reads each


def test_tasks_and_results_larger_than_a_pipe_arrive_whole_and_in_order():
    kids = _children()
    tasks = [bytes([n]) * (200_000 + n) for n in range(6)]
    out = list(forkpool.ordered_map(len, tasks, 2))
    assert out == [len(t) for t in tasks]
    big = list(forkpool.ordered_map(_echo_big, range(5), 2))
    assert [len(b) for b in big] == [3 * 1024 * 1024 + n for n in range(5)]
    assert all(b == bytes([n % 251]) * len(b) for n, b in enumerate(big))
    assert _no_children_left(kids)


def test_the_pool_does_not_import_multiprocessing():
    """Its import is ~10 ms of every `leakmon scan` start, serial time before the workers."""
    import subprocess
    import sys
    code = ("import sys, monitor.matching.forkpool, monitor.cli.scan; "
            "print('multiprocessing' in sys.modules)")
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert got.stdout.strip() == "False"


def test_pooled_output_through_a_real_stdout_is_the_serial_output(folder):
    """Workers hand the parent bytes, encoded as the parent's stdout encodes: the same
    characters in a pipe, non-ASCII names and excerpts included, as the serial scan writes."""
    import subprocess
    import sys
    for i in range(0, 40, 3):
        (folder / "docs" / f"café_{i}_ü.txt").write_text("Ça fuit : " + HIT_TEXT, encoding="utf-8")
    timing = re.compile(r" in [0-9.]+ s;")
    outs = []
    for jobs, fmt in (("1", []), ("2", []), ("1", ["--json"]), ("2", ["--json"])):
        got = subprocess.run([sys.executable, "-m", "monitor", "scan", "--rules", "rules.toml",
                              "--jobs", jobs, *fmt, "docs"], cwd=folder, capture_output=True,
                             env={**os.environ, "PYTHONIOENCODING": "utf-8"})
        assert got.returncode == 0, got.stderr
        outs.append(timing.sub("", got.stdout.decode("utf-8")))
    assert outs[0] == outs[1] and outs[2] == outs[3]
    assert "café_3_ü.txt" in outs[1] and outs[1].count("café_") >= 14
