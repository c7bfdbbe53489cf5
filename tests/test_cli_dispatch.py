"""`leakmon COMMAND` builds the parser of that command alone, so a short `leakmon scan` does not
pay for importing the store, alerting and collectors; anything else still sees every command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli import COMMAND_MODULES, build_parser, command_in, main

RULES = Path(__file__).resolve().parents[1] / "rules"


@pytest.mark.parametrize(("argv", "expected"), [
    (["scan", "x.txt"], "scan"),
    (["--config", "scan", "alerts", "list"], "alerts"),      # a config file named "scan"
    (["--config=c.toml", "--log-level", "debug", "run"], "run"),
    (["--state-dir", "/tmp/s", "status", "--json"], "status"),
    (["--help", "scan"], None),
    (["--version"], None),
    ([], None),
    (["nonsense"], None),
])
def test_command_in_finds_the_command_past_the_global_options(argv, expected):
    assert command_in(argv) == expected


def test_parser_for_one_command_parses_like_the_whole_parser():
    argv = ["--log-level", "debug", "scan", "--json", "a.txt"]
    whole, one = build_parser().parse_args(argv), build_parser(only="scan").parse_args(argv)
    assert vars(whole) == vars(one)


def test_unknown_command_still_lists_every_command(capsys):
    with pytest.raises(SystemExit) as e:
        main(["nonsense"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'nonsense'" in err
    for name in COMMAND_MODULES:
        assert name in err


def test_scan_imports_neither_store_nor_alerting_nor_collectors(tmp_path):
    doc = tmp_path / "post.txt"
    doc.write_text("dump of acme.com users\n")
    code = (
        "import json, sys\n"
        "from monitor.cli import main\n"
        f"status = main(['scan', '--rules', {str(RULES)!r}, '--json', {str(doc)!r}])\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('monitor.'))\n"
        "print(json.dumps({'status': status, 'loaded': loaded}), file=sys.stderr)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=False, cwd=tmp_path)
    report = json.loads(run.stderr.strip().splitlines()[-1])
    assert report["status"] in (0, 1), run.stderr
    loaded = report["loaded"]
    assert "monitor.cli.scan" in loaded
    for heavy in ("monitor.store", "monitor.alerting", "monitor.collectors", "monitor.web",
                  "monitor.daemon"):
        assert not [m for m in loaded if m == heavy or m.startswith(heavy + ".")], loaded
