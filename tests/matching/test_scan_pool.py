"""`leakmon scan` with a pool of worker processes: the same output, in the same order, as the
serial scan, with the work really done in other processes."""

from __future__ import annotations

import json
import os
import re
import signal

import pytest

from monitor.cli import scan as scan_cli
from monitor.matching import document_scan as scan_mod
from tests.matching.test_scan_cli import HIT_TEXT, NIR_SPACED, RULES
from tests.support.cli import run_cli

N_FILES = 2 * scan_cli._SLICE_FILES + 37  # enough for the pool, and a last partial chunk


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
    few = [scan_cli._Input(str(i), str(i), 1) for i in range(10)]
    many = [scan_cli._Input(str(i), str(i), 1) for i in range(N_FILES)]
    assert scan_cli._jobs(4, few) == 1
    assert scan_cli._jobs(4, [*many, scan_cli._Input("-", None, 0)]) == 1
    assert scan_cli._jobs(3, many) == 3
    assert scan_cli._jobs(None, many) == len(os.sched_getaffinity(0))


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
    assert len(rows) % scan_cli._SLICE_FILES == 0 and len(rows) < N_FILES
