"""The compiled-database cache: a hit skips the compile; a corrupt, foreign or tampered
file is rebuilt, never used."""

from __future__ import annotations

import hyperscan
import pytest

from monitor.matching import hscache
from monitor.matching.hyperscan_db import CASELESS, SOM, Pattern, Scanner
from tests.support.damage import DAMAGES, damage

PATTERNS = [Pattern(b"dedalus biologie", CASELESS | SOM), Pattern(rb"\d{3}-\d{4}", SOM)]
TEXT = b"fuite Dedalus Biologie, appeler 555-1234"
WANT = {0: [(6, 22)], 1: [(32, 40)]}


def _files(tmp_path):
    return sorted((tmp_path / "hscache").glob("*.hsdb"))


class _NoCompile:
    """Stands in for hyperscan.Database when a test must prove nothing was compiled."""

    def __init__(self, *a, **kw):
        raise AssertionError("Hyperscan compiled although the cache holds the database")


def _scan(scanner: Scanner) -> dict:
    return dict(scanner.scan(TEXT)[0])


def test_second_scanner_loads_the_cached_database_without_compiling(tmp_path, monkeypatch):
    assert _scan(Scanner(PATTERNS)) == WANT
    [path] = _files(tmp_path)
    assert path.stat().st_mode & 0o777 == 0o600
    hscache.hyperscan_version()  # computed once per process, before compiling is forbidden
    monkeypatch.setattr(hyperscan, "Database", _NoCompile)
    assert _scan(Scanner(PATTERNS)) == WANT


def test_other_patterns_or_flags_get_another_entry(tmp_path):
    Scanner(PATTERNS)
    Scanner([Pattern(b"dedalus biologie", SOM), PATTERNS[1]])  # same bytes, other flags
    Scanner([*PATTERNS, Pattern(b"x")])
    assert len(_files(tmp_path)) == 3


@pytest.mark.parametrize("how", DAMAGES)
def test_corrupt_cache_is_rebuilt(tmp_path, how):
    Scanner(PATTERNS)
    [path] = _files(tmp_path)
    raw = damage(path, how)
    assert _scan(Scanner(PATTERNS)) == WANT
    good = path.read_bytes()
    assert good != raw  # rewritten with a valid entry
    assert _scan(Scanner(PATTERNS)) == WANT


def test_an_entry_for_other_patterns_under_this_name_is_not_used(tmp_path):
    """A file whose header names another key (copied, or a hash collision of names) is
    foreign even when its body is a valid database: it would answer other patterns."""
    Scanner(PATTERNS)
    [mine] = _files(tmp_path)
    Scanner([Pattern(b"zzz", SOM)])
    [other] = [p for p in _files(tmp_path) if p != mine]
    mine.write_bytes(other.read_bytes())
    assert _scan(Scanner(PATTERNS)) == WANT


def test_another_hyperscan_version_misses_and_rebuilds(tmp_path, monkeypatch):
    Scanner(PATTERNS)
    [old] = _files(tmp_path)
    monkeypatch.setattr(hscache, "hyperscan_version", lambda: "9.9.9 Version: 9.9.9")
    assert _scan(Scanner(PATTERNS)) == WANT
    files = _files(tmp_path)
    assert len(files) == 2 and old in files


def test_a_body_hyperscan_refuses_is_rebuilt(tmp_path):
    """Key and checksum right, but the body is not a database of this library (as if
    another Hyperscan build wrote it): loadb's refusal means rebuild, not an error."""
    Scanner(PATTERNS)
    [path] = _files(tmp_path)
    key = hscache.cache_key([p.expression for p in PATTERNS], [0, 1],
                            [p.flags for p in PATTERNS], None, hyperscan.HS_MODE_BLOCK)
    assert path.name == f"{key.hex()}.hsdb"
    hscache.write_entry(path.parent, path, hscache.MAGIC, key,
                        b"not a hyperscan database" * 10)
    assert _scan(Scanner(PATTERNS)) == WANT


def test_cache_off_and_unwritable_folder_still_scan(tmp_path, monkeypatch):
    monkeypatch.setenv("LEAKMON_CACHE_DIR", "off")
    assert _scan(Scanner(PATTERNS)) == WANT
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("LEAKMON_CACHE_DIR", str(blocker / "sub"))
    assert _scan(Scanner(PATTERNS)) == WANT
    assert not _files(tmp_path)


def test_default_folder_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("LEAKMON_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hscache.cache_dir() == tmp_path / "xdg" / "leakmon"
