"""A disk cache of compiled Hyperscan databases, so that start-up does not recompile.

Compiling 1,000 keywords plus the shipped rules takes seconds; loading the serialized
database takes milliseconds. A cache file is named by the SHA-256 of everything that goes
into the database (expressions, ids, flags, extended parameters, mode) plus the Hyperscan
library version and the machine (architecture and CPU features, which Hyperscan tunes the
bytecode to). A file is used only when its header repeats that key and Hyperscan accepts
the body; anything else (truncated, corrupt, written by another version or another machine)
is ignored and rebuilt, never trusted. The header also carries the SHA-256 of the body, but
a database is not hashed again on load (3.5 MB cost 5 ms of a 0.1 s start-up): Hyperscan's
own deserializer checks the length, version, platform and a CRC32C of the bytecode, which
refuses every flipped bit and truncation (tests/matching/test_hscache.py). Files are written
atomically (temporary file and rename) with mode 0600 in a 0700 folder: a partial write is
never seen by a reader. `read_entry` / `write_entry` are that framing for other caches
(rulecache.py), which do check the body's hash.

The folder is `$LEAKMON_CACHE_DIR`, else `$XDG_CACHE_HOME/leakmon`, else `~/.cache/leakmon`;
`LEAKMON_CACHE_DIR=off` turns the cache off. A cache that cannot be written only costs the
compile time: it is never an error.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

import hyperscan

log = logging.getLogger(__name__)

CACHE_ENV = "LEAKMON_CACHE_DIR"
MAGIC = b"LEAKMON-HSDB-1\n"
_DIGEST = 32


def cache_dir() -> Path | None:
    """Where compiled databases are kept, or None when the cache is off."""
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return None if value.strip().lower() in ("", "off", "0", "none") else Path(value)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "leakmon"


@cache
def hyperscan_version() -> str:
    """The Hyperscan library's own version line (not only the Python binding's)."""
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(expressions=[b"leakmon"], ids=[0], flags=[0])
    info: bytes | str = db.info()  # bytes, whatever the binding's stub says
    text = info.decode("ascii", "replace") if isinstance(info, bytes) else info
    # the binding's own version: its stub does not declare `__version__`
    return f"{getattr(hyperscan, '__version__', 'unknown')} {text}"


@cache
def platform_tag() -> str:
    """Architecture and CPU feature flags: a database tuned for AVX-512 must not be loaded
    on a machine without it (Hyperscan checks too; the key makes it a plain miss)."""
    flags = ""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith(("flags", "Features")):
                    flags = " ".join(sorted(line.split(":", 1)[1].split()))
                    break
    except OSError:
        pass
    if hasattr(os, "uname"):  # what platform.machine()/system() answer, without its import
        machine, system = os.uname().machine, os.uname().sysname
    else:  # pragma: no cover (Windows)
        import platform

        machine, system = platform.machine(), platform.system()
    return f"{machine} {system} {flags}"


def cache_key(expressions: Sequence[bytes], ids: Sequence[int], flags: Sequence[int],
              ext: Sequence[tuple] | None, mode: int) -> bytes:
    """SHA-256 over every input of the compile and the library and machine it runs on."""
    h = hashlib.sha256()
    for part in (hyperscan_version(), platform_tag(), f"mode={mode}", f"n={len(expressions)}"):
        h.update(part.encode() + b"\0")
    for i, expr in enumerate(expressions):
        h.update(len(expr).to_bytes(4, "little") + expr)
        h.update(f"{ids[i]},{flags[i]},{ext[i] if ext else ''}".encode() + b"\0")
    return h.digest()


def load_or_compile(expressions: Sequence[bytes], ids: Sequence[int], flags: Sequence[int],
                    ext: Sequence[tuple] | None, mode: int,
                    compile_db: Callable[[], hyperscan.Database], *,
                    key: bytes | None = None) -> tuple[hyperscan.Database, bytes | None]:
    """The database from the cache when a valid entry exists, else `compile_db()` (stored
    for next time), and its cache key (None when the cache is off). `key`, when the caller
    already knows it (a compiled rule set remembers the keys of its databases), spares
    hashing every pattern again; it must be `cache_key` of these same inputs.
    Compile errors propagate from `compile_db` unchanged."""
    folder = cache_dir()
    if folder is None:
        return compile_db(), None
    if key is None:
        key = cache_key(expressions, ids, flags, ext, mode)
    path = folder / f"{key.hex()}.hsdb"
    db = _load(path, key, mode)
    if db is not None:
        return db, key
    db = compile_db()
    write_entry(folder, path, MAGIC, key, hyperscan.dumpb(db))
    return db, key


def read_entry(path: Path, magic: bytes, key: bytes, *, check_body: bool = True) -> bytes | None:
    """The body of the cache file at `path` when its header is `magic` + `key` (and, with
    `check_body`, the body's SHA-256 matches), else None (missing, foreign or corrupt)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        log.debug("cache file %s unreadable: %s", path, e)
        return None
    head = len(magic)
    if (len(raw) < head + 2 * _DIGEST or raw[:head] != magic
            or raw[head:head + _DIGEST] != key):
        log.info("cache file %s is not ours (foreign or corrupt): rebuilding it", path)
        return None
    body = raw[head + 2 * _DIGEST:]
    if check_body and hashlib.sha256(body).digest() != raw[head + _DIGEST:head + 2 * _DIGEST]:
        log.info("cache file %s is corrupt: rebuilding it", path)
        return None
    return body


def _load(path: Path, key: bytes, mode: int) -> hyperscan.Database | None:
    body = read_entry(path, MAGIC, key, check_body=False)  # Hyperscan checks its CRC32C
    if body is None:
        return None
    try:
        return hyperscan.loadb(body, mode)
    except hyperscan.error as e:  # corrupt, or another library build despite the key
        log.info("Hyperscan cache %s cannot be loaded (%s): rebuilding it", path, e)
        return None


def write_entry(folder: Path, path: Path, magic: bytes, key: bytes, body: bytes) -> None:
    """Write `magic` + `key` + SHA-256(body) + `body` to `path` atomically, mode 0600 (the
    folder made 0700); a cache that cannot be written is only logged."""
    import tempfile  # only when writing an entry

    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".entry-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(magic + key + hashlib.sha256(body).digest() + body)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as e:
        log.debug("cache file %s not written: %s", path, e)
