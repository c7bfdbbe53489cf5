"""The dependency contract: pyproject.toml's ranges, constraints.txt's pins (what `make
install` and CI install) and the installed environment agree."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

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
