"""The rule cache: a warm start neither parses TOML nor compiles rules, and gives what a
cold one does; a corrupt, foreign, planted or stale entry is rebuilt, never used."""

from __future__ import annotations

import hashlib
import os
import pickle
import tomllib
from pathlib import Path

import hyperscan
import pytest

from monitor.matching import hscache, rulecache
from monitor.matching.engine import Engine
from monitor.matching.engine.compile import CompiledRules, compile_rules
from monitor.matching.rules import load_rules
from tests.support.damage import DAMAGES, damage

RULES = """\
[[rules]]
id = "org.mention"
title = "Org named"
severity = "high"
keywords = ["Dedalus Biologie", "dedalus-biologie.fr"]
fuzzy = 90
near = ["dump", "fuite"]

[[rules.tests]]
text = "fuite Dedalus Biologie"
match = true

[[rules]]
id = "org.code"
title = "Project code"
regex = 'PRJ-(?=\\d{4})\\d+'

[[rules]]
id = "ids.iban"
title = "IBANs"
detector = ["iban"]
"""
TEXT = (b"fuite de la base Dedalus Biologie, projet PRJ-2024, "
        b"IBAN FR76 3000 6000 0112 3456 7890 189")


@pytest.fixture
def rule_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules" / "org.toml"
    path.parent.mkdir()
    path.write_text(RULES, encoding="utf-8")
    return path


def _entries(tmp_path: Path, suffix: str) -> list[Path]:
    return sorted((tmp_path / "hscache").glob(f"*{suffix}"))


def _hits(rule_file: Path) -> list[tuple[str, int, str]]:
    engine = Engine.build(load_rules([rule_file]))
    return [(h.rule_id, h.count, h.excerpt) for h in engine.scan(TEXT)]


def _forbid_work(monkeypatch) -> None:
    """From here on, parsing TOML, compiling rules or Hyperscan patterns fails the test."""
    hscache.hyperscan_version()  # the environment is computed once per process, before

    def refuse(*a, **kw):
        raise AssertionError("the rule cache holds this, yet it was computed again")

    monkeypatch.setattr(tomllib, "loads", refuse)
    monkeypatch.setattr(CompiledRules, "add_rule", refuse)
    monkeypatch.setattr(hyperscan, "Database", refuse)


def test_warm_start_parses_and_compiles_nothing_and_finds_the_same(rule_file, tmp_path,
                                                                   monkeypatch):
    cold = _hits(rule_file)
    assert {r for r, _, _ in cold} == {"org.mention", "org.code", "ids.iban"}
    assert len(_entries(tmp_path, ".rules")) == 1 and len(_entries(tmp_path, ".compiled")) == 1
    _forbid_work(monkeypatch)
    assert _hits(rule_file) == cold


def test_warm_ruleset_equals_the_parsed_one_and_the_engine_holds_the_callers_rules(rule_file):
    cold = load_rules([rule_file])
    Engine.build(cold)
    warm = load_rules([rule_file])
    assert warm.rules == cold.rules and warm.problems == cold.problems
    assert warm.rules[0] is not cold.rules[0]  # rebuilt from the entry, not a shared object
    compiled = compile_rules(warm.rules)
    assert all(cr.rule is r for cr, r in zip(compiled.rules, warm.rules, strict=True))


def test_entries_are_private(rule_file, tmp_path):
    _hits(rule_file)
    entries = _entries(tmp_path, ".rules") + _entries(tmp_path, ".compiled")
    assert entries and all(p.stat().st_mode & 0o777 == 0o600 for p in entries)
    assert (tmp_path / "hscache").stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("suffix", [".rules", ".compiled"])
@pytest.mark.parametrize("how", DAMAGES)
def test_corrupt_entry_is_rebuilt(rule_file, tmp_path, suffix, how):
    want = _hits(rule_file)
    [path] = _entries(tmp_path, suffix)
    raw = damage(path, how)
    assert _hits(rule_file) == want
    assert path.read_bytes() != raw  # rewritten with a valid entry


def test_entry_of_another_leakmon_version_is_not_used(rule_file, tmp_path, monkeypatch):
    want = _hits(rule_file)
    monkeypatch.setattr(rulecache, "__version__", "99.0")
    rulecache.environment.cache_clear()
    try:
        assert _hits(rule_file) == want
        assert len(_entries(tmp_path, ".rules")) == 2
        assert len(_entries(tmp_path, ".compiled")) == 2
    finally:
        rulecache.environment.cache_clear()


def test_changed_rule_file_is_parsed_again(rule_file, tmp_path):
    _hits(rule_file)
    rule_file.write_text(RULES.replace("Dedalus Biologie", "Acme Santé"), encoding="utf-8")
    assert [r for r, _, _ in _hits(rule_file)] == ["org.code", "ids.iban"]
    text = TEXT.replace(b"Dedalus Biologie", "Acme Santé".encode())
    engine = Engine.build(load_rules([rule_file]))
    assert "org.mention" in {h.rule_id for h in engine.scan(text)}
    assert len(_entries(tmp_path, ".rules")) == 2


def test_edited_source_file_changes_the_environment(tmp_path):
    """An edited normalizer or detector must never meet output its old version cached."""
    src = tmp_path / "pkg"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "mod.py").write_text("X = 1\n")
    (src / "notes.txt").write_text("not code\n")
    before = rulecache._code_stamp(src)
    (src / "notes.txt").write_text("still not code, longer\n")
    assert rulecache._code_stamp(src) == before
    (src / "sub" / "mod.py").write_text("X = 22\n")
    assert rulecache._code_stamp(src) != before
    again = rulecache._code_stamp(src)
    os.utime(src / "sub" / "mod.py", ns=(1, 1))  # same size, another time
    assert rulecache._code_stamp(src) != again


def _replace_body(path: Path, magic: bytes, body: bytes) -> None:
    """A well-formed entry (right magic, key and checksum) holding `body`."""
    key = path.read_bytes()[len(magic):len(magic) + 32]
    path.write_bytes(magic + key + hashlib.sha256(body).digest() + body)


class _Planted:
    def __reduce__(self):
        return (os.system, ("touch planted",))


def test_planted_pickle_is_not_run(rule_file, tmp_path, monkeypatch):
    """An entry whose checksum is right but which names another callable (as someone who
    could write the folder would plant it) is refused by the unpickler and rebuilt."""
    want = _hits(rule_file)
    [path] = _entries(tmp_path, ".rules")
    _replace_body(path, rulecache.MAGIC_RULES, pickle.dumps(_Planted()))
    monkeypatch.chdir(tmp_path)
    assert _hits(rule_file) == want
    assert not (tmp_path / "planted").exists()


def test_entry_of_another_shape_is_rebuilt(rule_file, tmp_path):
    want = _hits(rule_file)
    [path] = _entries(tmp_path, ".compiled")
    _replace_body(path, rulecache.MAGIC_COMPILED, pickle.dumps(("not", "an", "entry")))
    assert _hits(rule_file) == want


def test_entry_others_may_write_is_not_used(rule_file, tmp_path, monkeypatch):
    _hits(rule_file)
    [path] = _entries(tmp_path, ".rules")
    path.chmod(0o620)
    monkeypatch.setattr(tomllib, "loads", _counting(tomllib.loads, calls := []))
    load_rules([rule_file])
    assert calls  # parsed again: the entry is not trusted


def _counting(func, calls: list):
    def wrapper(*a, **kw):
        calls.append(1)
        return func(*a, **kw)
    return wrapper


def test_cache_off_writes_nothing(rule_file, tmp_path, monkeypatch):
    monkeypatch.setenv("LEAKMON_CACHE_DIR", "off")
    assert [r for r, _, _ in _hits(rule_file)] == ["org.mention", "org.code", "ids.iban"]
    assert not (tmp_path / "hscache").exists()


def test_crlf_file_loads_as_text_mode_read_it(tmp_path, rule_file):
    """Rule files are read as bytes (for the key), then decoded with universal newlines,
    as open() in text mode did: CRLF files give the same rules and line numbers."""
    path = tmp_path / "crlf.toml"
    path.write_bytes(RULES.replace("\n", "\r\n").encode())
    crlf, lf = load_rules([path]), load_rules([rule_file])
    assert crlf.ok and len(crlf.rules) == 3
    assert [(r.id, r.line, r.tests) for r in crlf.rules] == [(r.id, r.line, r.tests)
                                                            for r in lf.rules]
    assert crlf.rules[0].tests[0].text == "fuite Dedalus Biologie"
