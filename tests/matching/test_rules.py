"""Rule files: loading, and every kind of problem reported with file, rule id and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.matching.rules import load_rules

GOOD = """\
[[rules]]
id = "org.mention"
title = "Org named"
severity = "high"
tags = ["org"]
keywords = ["Acme", "acme.fr"]
fuzzy = 90
near = ["dump", "fuite"]
window = 120
exclude = ["press release"]

[[rules.tests]]
text = "fuite acme"
match = true
count = 1

[[rules]]
id = "bulk.nir"
detector = ["fr_nir"]
regex = 'NIR-\\d+'
min_count = 20
enabled = false
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


def problems(rs) -> list[tuple[str, str | None, int | None, str]]:
    return [(Path(p.file).name, p.rule_id, p.line, p.message) for p in rs.errors]


def test_good_file_loads_every_key(tmp_path):
    rs = load_rules([write(tmp_path, "good.toml", GOOD)])
    assert rs.ok and rs.problems == []
    org, nir = rs.rules
    assert (org.id, org.severity, org.keywords, org.fuzzy, org.near, org.window, org.exclude) == \
        ("org.mention", "high", ("Acme", "acme.fr"), 90, ("dump", "fuite"), 120, ("press release",))
    assert org.tests[0].text == "fuite acme" and org.tests[0].count == 1 and org.tests[0].line == 12
    assert (org.line, nir.line) == (1, 17)
    assert (nir.detectors, nir.regex, nir.min_count, nir.enabled, nir.title) == \
        (("fr_nir",), ("NIR-\\d+",), 20, False, "bulk.nir")


def test_folders_load_recursively_sorted(tmp_path):
    write(tmp_path / "b", "x.toml", GOOD)
    write(tmp_path / "a", "y.toml", GOOD.replace("org.mention", "o2").replace("bulk.nir", "n2"))
    write(tmp_path, "notes.txt", "not a rule file")
    rs = load_rules([tmp_path])
    assert [r.id for r in rs.rules] == ["o2", "n2", "org.mention", "bulk.nir"]


@pytest.mark.parametrize(("snippet", "line", "message"), [
    ('severity = "urgent"', 3, "bad severity 'urgent'"),
    ('neer = ["dump"]', 3, "unknown key 'neer' (did you mean near?)"),
    ('regex = "(unclosed"', 3, "bad regex '(unclosed'"),
    ('regex = "a*"', 3, "matches the empty string"),
    ('detector = "ssn"', 3, "unknown detector 'ssn'"),
    ('fuzzy = "high"', 3, "fuzzy must be an integer"),
    ("fuzzy = 120", 3, "fuzzy must be between 50 and 100"),
    ('min_count = 0', 3, "min_count must be >= 1"),
    ('tags = "x"\ntags2 = 1', 4, "unknown key 'tags2'"),
    ("enabled = 1", 3, "enabled must be true or false"),
    ('keywords = [1, 2]', 3, "keywords must be a string or a list of strings"),
])
def test_each_problem_names_file_rule_and_line(tmp_path, snippet, line, message):
    text = f'[[rules]]\nid = "r1"\n{snippet}\nkeywords = ["acme"]\n'
    if snippet.startswith("keywords"):
        text = f'[[rules]]\nid = "r1"\n{snippet}\n'
    rs = load_rules([write(tmp_path, "bad.toml", text)])
    assert rs.rules == []
    ((file, rule_id, got_line, _msg),) = [p for p in problems(rs) if message in p[3]]
    assert (file, rule_id, got_line) == ("bad.toml", "r1", line)


def test_rule_without_matcher_or_id(tmp_path):
    rs = load_rules([write(tmp_path, "r.toml", '[[rules]]\nid = "lonely"\n\n[[rules]]\ntitle = "x"\nkeywords = ["a"]\n')])
    assert ("r.toml", "lonely", 1, "rule has no matcher: give keywords, regex, detector or fingerprints") in problems(rs)
    assert any(p[1] is None and p[2] == 4 and "no id" in p[3] for p in problems(rs))


def test_toml_syntax_error_has_line(tmp_path):
    rs = load_rules([write(tmp_path, "s.toml", '[[rules]]\nid = "a"\nkeywords = ["x",\nseverity = \n')])
    ((file, rule_id, line, message),) = problems(rs)
    assert (file, rule_id, line) == ("s.toml", None, 4) and "invalid TOML" in message


def test_duplicate_ids_within_and_across_files(tmp_path):
    one = write(tmp_path, "1.toml", '[[rules]]\nid = "x"\nkeywords = ["a"]\n')
    two = write(tmp_path, "2.toml", '[[rules]]\nid = "y"\nkeywords = ["b"]\n\n[[rules]]\nid = "x"\nkeywords = ["c"]\n')
    rs = load_rules([one, two])
    assert [r.id for r in rs.rules] == ["x"]  # the second file is broken: none of its rules
    ((file, rule_id, line, message),) = problems(rs)
    assert (file, rule_id, line) == ("2.toml", "x", 5)
    assert "duplicate rule id (first defined in" in message and "1.toml:1" in message
    rs = load_rules([write(tmp_path, "3.toml", '[[rules]]\nid = "z"\nkeywords = ["a"]\n[[rules]]\nid = "z"\nkeywords = ["b"]\n')])
    assert problems(rs) == [("3.toml", "z", 5, "duplicate rule id (first defined at line 2)")]


def test_fingerprint_sets_checked_when_known(tmp_path):
    text = '[[rules]]\nid = "fp"\nfingerprints = "patients"\nmin_records = 2\n'
    path = write(tmp_path, "fp.toml", text)
    assert load_rules([path]).ok  # set names unknown: not checked
    assert load_rules([path], known_fingerprint_sets={"patients"}).rules[0].min_records == 2
    rs = load_rules([path], known_fingerprint_sets={"staff"})
    assert problems(rs) == [("fp.toml", "fp", 3, "unknown fingerprint set 'patients' (known: staff)")]
    mixed = write(tmp_path, "mixed.toml", '[[rules]]\nid = "m"\nfingerprints = "p"\nkeywords = ["a"]\n')
    assert "cannot also have keywords" in problems(load_rules([mixed]))[0][3]


def test_bad_tests_tables(tmp_path):
    text = '[[rules]]\nid = "t"\nkeywords = ["a"]\n\n[[rules.tests]]\ntext = "a"\nmatch = "yes"\n\n[[rules.tests]]\ntxt = "a"\nmatch = true\n'
    rs = load_rules([write(tmp_path, "t.toml", text)])
    got = problems(rs)
    assert ("t.toml", "t", 5, "test at line 5: match must be true or false") in got
    assert ("t.toml", "t", 9, "test at line 9: unknown key 'txt' (known: count, match, text)") in got


def test_broken_file_does_not_stop_others(tmp_path):
    good = write(tmp_path, "good.toml", GOOD)
    bad = write(tmp_path, "bad.toml", "[[rules]\nid = ")
    missing = tmp_path / "missing.toml"
    rs = load_rules([bad, missing, good])
    assert [r.id for r in rs.rules] == ["org.mention", "bulk.nir"]
    assert {Path(p.file).name for p in rs.errors} == {"bad.toml", "missing.toml"}


def test_warnings_do_not_block(tmp_path):
    rs = load_rules([write(tmp_path, "w.toml", '[[rules]]\nid = "w"\nkeywords = ["a"]\nwindow = 10\n')])
    assert rs.ok and [r.id for r in rs.rules] == ["w"]
    assert {p.message for p in rs.problems} == {"window only applies with near words",
                                                "rule has no [[rules.tests]] example"}
    assert all(p.severity == "warning" for p in rs.problems)
    assert rs.problems[0].format().startswith(f"{tmp_path / 'w.toml'}:")
