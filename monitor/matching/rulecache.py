"""A disk cache of parsed rule files and compiled rule sets, so that a warm start skips
TOML parsing and `compile_rules` (60 ms of a 0.2 s start-up with 1,000 keyword rules).

Two kinds of entries, in the Hyperscan cache's folder (hscache.py: same framing, atomic
writes, mode 0600 in a 0700 folder):

- `*.rules`: one rule file's `_load_file` result (its rules and problems), keyed by the
  file's path and bytes, the known fingerprint sets and the environment;
- `*.compiled`: `compile_rules`' result, keyed by the content of the rules it was given and
  the environment, with the disk-cache keys of its two Hyperscan databases (so loading them
  hashes no pattern). The rules themselves are not stored: the caller's own Rule objects
  are put back in place (pickle's persistent references), so the engine holds the same
  objects as without the cache.

The *environment* is everything besides those inputs that shapes the result: the leakmon
version, the Python version, the Hyperscan library and machine (hscache), and the size and
modification time of every source file of the `monitor` package (the test Python applies
to its own bytecode cache), so an edited detector or normalizer never meets stale output.

An entry is used only when its header repeats the key and the SHA-256 of its body matches,
the file belongs to this user and nobody else can write it or its folder; it is unpickled by
an unpickler that can build only the record classes listed here (and compile a regex): a
corrupt, foreign or planted entry is rebuilt, never trusted. `LEAKMON_CACHE_DIR=off` turns
this cache off with the Hyperscan one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import operator
import os
import pickle
import stat
import sys
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from monitor import __version__
from monitor.matching import hscache

log = logging.getLogger(__name__)

MAGIC_RULES = b"LEAKMON-RULEFILE-1\n"
MAGIC_COMPILED = b"LEAKMON-COMPILED-1\n"
_PROTOCOL = 5

T = TypeVar("T")

# Classes an entry may hold, by module: all dataclasses whose fields are all __init__
# parameters (stored as the tuple of their fields, rebuilt by calling the class).
_RECORDS: dict[str, tuple[str, ...]] = {
    "monitor.matching.rules": ("Rule", "RuleTest", "RuleProblem"),
    "monitor.matching.hyperscan_db": ("Pattern",),
    "monitor.matching.engine.roles": ("KeywordRole", "FuzzyRole", "RegexRole", "TriggerRole",
                                      "DetectorRole", "ContextWord", "CompiledRule"),
    "monitor.matching.engine.compile": ("CompiledRules", "ContextWords"),
}
_OTHER_GLOBALS = frozenset({("re", "_compile")})  # how a compiled regex pickles


@cache
def _record_fields(cls: type) -> Callable[[Any], tuple] | None:
    """A getter of the field values (a tuple, in field order) of an allowed record class,
    or None for any other class."""
    if cls.__name__ not in _RECORDS.get(cls.__module__, ()) or not dataclasses.is_dataclass(cls):
        return None
    fields = dataclasses.fields(cls)
    if not fields or not all(f.init for f in fields):  # rebuilt through __init__
        return (lambda obj: ()) if not fields else None
    if len(fields) == 1:
        name = fields[0].name
        return lambda obj: (getattr(obj, name),)
    return operator.attrgetter(*(f.name for f in fields))


class _Pickler(pickle.Pickler):
    """Records as (class, field values): rebuilt by their __init__, 3x faster than the
    dataclass __setstate__ of slotted classes. Rules of `persistent` become references."""

    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file, _PROTOCOL)

    def reducer_override(self, obj: Any) -> Any:
        values = _record_fields(type(obj))  # type: ignore[arg-type]  # classes hash
        if values is None:
            return NotImplemented
        return type(obj), values(obj)


class _RefPickler(_Pickler):
    """Objects of `persistent` become references to their index (a separate class: the
    pickler calls `persistent_id` for every object once it is defined)."""

    def __init__(self, file: io.BytesIO, persistent: Sequence[Any]) -> None:
        super().__init__(file)
        self._ids = {id(obj): i for i, obj in enumerate(persistent)}

    def persistent_id(self, obj: Any) -> int | None:
        return self._ids.get(id(obj))


class _Unpickler(pickle.Unpickler):
    """Builds only the allowed record classes (and compiles regexes): a planted pickle
    cannot reach any other callable."""

    def __init__(self, file: io.BytesIO, persistent: Sequence[Any] = ()) -> None:
        super().__init__(file)
        self._persistent = persistent

    def persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, int) or not 0 <= pid < len(self._persistent):
            raise pickle.UnpicklingError(f"bad persistent reference {pid!r}")
        return self._persistent[pid]

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _OTHER_GLOBALS:
            return super().find_class(module, name)
        if name in _RECORDS.get(module, ()):
            cls = super().find_class(module, name)
            if _record_fields(cls) is not None:
                return cls
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a rule cache")


def _dumps(value: Any, persistent: Sequence[Any] = ()) -> bytes:
    buf = io.BytesIO()
    (_RefPickler(buf, persistent) if persistent else _Pickler(buf)).dump(value)
    return buf.getvalue()


def content_digest(value: Any) -> bytes:
    """SHA-256 of `value`'s content (records, strings, numbers, containers), independent of
    which equal objects share memory: the pickler's memo is off."""
    buf = io.BytesIO()
    p = _Pickler(buf)
    p.fast = True  # no memo: shared and equal-but-distinct objects pickle alike
    p.dump(value)
    return hashlib.sha256(buf.getvalue()).digest()


@cache
def environment() -> bytes:
    """Everything besides a cache entry's own inputs that shapes what it holds."""
    h = hashlib.sha256()
    for part in (__version__, sys.version, hscache.hyperscan_version(), hscache.platform_tag()):
        h.update(part.encode() + b"\0")
    h.update(_code_stamp(Path(__file__).resolve().parent.parent))
    return h.digest()


def _code_stamp(root: Path) -> bytes:
    """Size and mtime of every .py and extension module under `root`, sorted by path."""
    rows: list[str] = []
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as entries:
            for e in entries:
                if e.is_dir(follow_symlinks=False):
                    if e.name != "__pycache__":
                        stack.append(e.path)
                elif e.name.endswith((".py", ".so", ".pyd")):
                    st = e.stat()
                    rows.append(f"{os.path.relpath(e.path, root)}\0{st.st_size}\0"
                                f"{st.st_mtime_ns}")
    rows.sort()
    return hashlib.sha256("\n".join(rows).encode()).digest()


def entry_key(kind: bytes, *parts: bytes) -> bytes:
    """The key of an entry of `kind` made from `parts` (each length-prefixed) and the
    environment."""
    h = hashlib.sha256(kind + b"\0" + environment())
    for part in parts:
        h.update(len(part).to_bytes(8, "little") + part)
    return h.digest()


def _owned_by_me(path: Path) -> bool:
    """The file and its folder belong to this user and nobody else may write them: only
    then may an entry be unpickled."""
    uid = os.geteuid() if hasattr(os, "geteuid") else None
    for p in (path, path.parent):
        try:
            st = p.stat()
        except OSError:
            return False
        if (uid is not None and st.st_uid != uid) or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            log.info("rule cache %s is writable by others or not ours: not used", p)
            return False
    return True


def cached(magic: bytes, suffix: str, key: bytes, build: Callable[[], T], *,
           persistent: Sequence[Any] = (), check: Callable[[Any], bool] = lambda v: True,
           keep: Callable[[T], bool] = lambda v: True) -> T:
    """The value stored under `key` when a valid entry exists (and passes `check`), else
    `build()`, stored for next time when `keep(value)`. Objects of `persistent` are stored
    as references to the caller's sequence, given again on load."""
    folder = hscache.cache_dir()
    if folder is None:
        return build()
    path = folder / f"{key.hex()}{suffix}"
    value = _load(path, magic, key, persistent)
    if value is not None and check(value):
        return value
    value = build()
    if keep(value):
        try:
            body = _dumps(value, persistent)
        except (pickle.PicklingError, TypeError, AttributeError) as e:  # cannot be cached
            log.debug("rule cache entry %s not written: %s", path, e)
        else:
            hscache.write_entry(folder, path, magic, key, body)
    return value


def _load(path: Path, magic: bytes, key: bytes, persistent: Sequence[Any]) -> Any:
    body = hscache.read_entry(path, magic, key)
    if body is None or not _owned_by_me(path):
        return None
    try:
        return _Unpickler(io.BytesIO(body), persistent).load()
    except Exception as e:  # any failure to rebuild the entry is a miss
        log.info("rule cache %s cannot be loaded (%s): rebuilding it", path, e)
        return None
