"""The dependency contract: pyproject.toml's ranges, constraints.txt's pins (what `make
install` and CI install) and the installed environment agree."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# Libraries whose API we rely on at one major version: their range must close above.
NO_UPPER_BOUND_OK = {"faker", "pyahocorasick"}  # test-data helpers, any version will do


def _requirements() -> list[Requirement]:
    return [Requirement(r) for r in
            [*PROJECT["dependencies"], *PROJECT["optional-dependencies"]["dev"]]]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not NAME==VERSION"
            pins[canonicalize_name(name)] = version
    return pins


def test_every_requirement_is_pinned_inside_its_range():
    pins = _pins()
    for req in _requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"constraints.txt has no pin for {req.name}"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {req.name}=={pins[name]}, outside pyproject's {req.specifier}")


def test_ranges_have_upper_bounds_and_ruff_is_exact():
    for req in _requirements():
        name = canonicalize_name(req.name)
        ops = {s.operator for s in req.specifier}
        if name == "ruff":
            assert ops == {"=="}, "ruff must be pinned exactly"
        elif name not in NO_UPPER_BOUND_OK:
            assert ops & {"<", "<=", "==", "~="}, f"{req.name} has no upper bound"
            assert ops & {">=", ">", "==", "~="}, f"{req.name} has no lower bound"


def test_the_installed_environment_is_the_constrained_one():
    pins = _pins()
    for req in _requirements():
        name = canonicalize_name(req.name)
        assert metadata.version(req.name) == pins[name], (
            f"{req.name} {metadata.version(req.name)} is installed, constraints.txt pins "
            f"{pins[name]}: run `make install`")


def _threads_after(code: str, env: dict[str, str]) -> tuple[int, str]:
    """The threads of a Python process once it has run `code`, and its OPENBLAS_NUM_THREADS."""
    out = subprocess.run(
        [sys.executable, "-c", code + "; import os; "
         "print(len(os.listdir('/proc/self/task')), os.environ.get('OPENBLAS_NUM_THREADS'))"],
        env=env, capture_output=True, text=True, check=True, cwd=ROOT).stdout.split()
    return int(out[0]), out[1]


def test_numpy_starts_no_blas_threads_under_leakmon():
    """OpenBLAS's pool (a thread per core, spinning after numpy's import) took CPU from the
    scan workers: importing leakmon's numpy users leaves the process with one thread, unless
    the user chose OPENBLAS_NUM_THREADS."""
    if not os.path.isdir("/proc/self/task"):
        pytest.skip("counts threads in /proc (Linux)")
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    assert _threads_after("import monitor.matching.fingerprints, monitor.store.lsh", env) == (1, "1")
    assert _threads_after("import monitor", {**env, "OPENBLAS_NUM_THREADS": "3"})[1] == "3"
    if (os.cpu_count() or 1) > 1:  # what it guards against: numpy alone starts the pool
        assert _threads_after("import numpy", env)[0] > 1
