"""`leakmon rules check` and `leakmon rules test`: output, exit codes, JSON, shipped rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.cli import main
from tests.support.cli import run_cli

SHIPPED = Path(__file__).resolve().parents[2] / "rules"

GOOD = """\
[[rules]]
id = "acme"
keywords = ["acme"]

[[rules.tests]]
text = "acme leak"
match = true
count = 1

[[rules.tests]]
text = "acmex"
match = false
"""


def run(capsys, *argv: str) -> tuple[int, str]:
    """The exit code and everything printed (stdout then stderr)."""
    code, out, err = run_cli(capsys, *argv)
    return code, out + err


def test_shipped_rules_check_and_test_pass(capsys):
    code, out = run(capsys, "rules", "check", str(SHIPPED))
    assert code == 0, out
    assert out.strip().endswith("OK")
    code, out = run(capsys, "rules", "test", str(SHIPPED))
    assert code == 0, out
    assert " 0 failed" in out


def test_shipped_rules_have_examples_for_every_rule():
    from monitor.matching.rules import load_rules

    rs = load_rules([SHIPPED])
    assert rs.rules and all(r.tests for r in rs.rules)
    assert any(not r.enabled for r in rs.rules if "organization" in r.file)
    assert all(r.enabled for r in rs.rules if "organization" not in r.file)


def test_check_reports_file_rule_line_and_exits_1(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rules]]\nid = "x"\nseverity = "urgent"\nkeywords = ["a"]\n')
    (tmp_path / "good.toml").write_text(GOOD)
    code, out = run(capsys, "rules", "check", str(tmp_path))
    assert code == 1
    assert f"{bad}:3: rule x: bad severity 'urgent'" in out
    assert "1 error" in out and "1 rule usable in 2 files" in out


def test_check_json(tmp_path, capsys):
    (tmp_path / "good.toml").write_text(GOOD)
    code, out = run(capsys, "rules", "check", "--json", str(tmp_path))
    data = json.loads(out)
    assert code == 0 and data["ok"] is True and data["rules"] == 1 and data["errors"] == 0


def test_check_unknown_fingerprint_set(tmp_path, capsys):
    f = tmp_path / "fp.toml"
    f.write_text('[[rules]]\nid = "fp"\nfingerprints = "patients"\n')
    code, _ = run(capsys, "rules", "check", str(f))
    assert code == 0  # no set known anywhere: not checked
    code, out = run(capsys, "rules", "check", "--fingerprint-set", "staff", str(f))
    assert code == 1 and f"{f}:3: rule fp: unknown fingerprint set 'patients'" in out


def test_test_failures_name_file_rule_and_line(tmp_path, capsys):
    f = tmp_path / "r.toml"
    f.write_text(GOOD.replace("count = 1", "count = 2").replace('text = "acmex"', 'text = "ACME"'))
    code, out = run(capsys, "rules", "test", str(f))
    assert code == 1
    assert f"{f}:5: rule acme: failed: example matched with count 1, expected 2" in out
    assert f"{f}:10: rule acme: failed: example should not match but did" in out
    assert "0 passed, 2 failed" in out


def test_test_json_and_broken_file(tmp_path, capsys):
    (tmp_path / "good.toml").write_text(GOOD)
    (tmp_path / "broken.toml").write_text("[[rules]\n")
    code, out = run(capsys, "rules", "test", "--json", str(tmp_path))
    data = json.loads(out)
    assert code == 1  # a broken file fails the run even though its neighbours pass
    assert (data["passed"], data["failed"]) == (2, 0)
    assert data["problems"][0]["file"].endswith("broken.toml")


def test_fingerprint_rule_examples_are_skipped(tmp_path, capsys):
    f = tmp_path / "fp.toml"
    f.write_text('[[rules]]\nid = "fp"\nfingerprints = "p"\n\n[[rules.tests]]\ntext = "x"\nmatch = true\n')
    code, out = run(capsys, "rules", "test", str(f))
    assert code == 0 and "1 skipped" in out and "not loaded" in out


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        main(["rules", "check", "--help"])
    assert "examples:" in capsys.readouterr().out
