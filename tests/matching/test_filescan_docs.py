"""The library example of docs/scan.md ("What `leakmon scan` itself does ...") runs as
written and prints what `leakmon scan --json` prints: the doc must not drift from the code."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.matching.test_scan_cli import HIT_TEXT, RULES
from tests.support.cli import run_cli

DOC = Path(__file__).resolve().parents[2] / "docs" / "scan.md"

PRELUDE = """\
import itertools, sys
from pathlib import Path
from monitor.config import Config
from monitor.matching.extract import Limits
from monitor.matching.loader import load_engine

config = Config(None, Path.cwd(), None)
loaded = load_engine(config, Path("state"), rule_paths=["rules.toml"])
limits = Limits.from_config(config.matching)
"""


def library_example() -> str:
    text = DOC.read_text(encoding="utf-8")
    at = text.index("What `leakmon scan` itself does")
    block = re.search(r"```python\n(.*?)```", text[at:], re.S)
    assert block is not None, "the library example of docs/scan.md is gone"
    return block.group(1)


def test_the_library_example_prints_what_leakmon_scan_prints(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules.toml").write_text(RULES)
    leaks = tmp_path / "leaks"
    leaks.mkdir()
    for i in range(300):  # enough for the pool (worker_count gives more than one job)
        (leaks / f"m{i:03}.txt").write_text(HIT_TEXT if i % 7 == 0 else f"message {i}\n")
    run = subprocess.run([sys.executable, "-c", PRELUDE + library_example()], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    *lines, summary = run.stdout.splitlines(keepends=True)
    cli = run_cli(capsys, "scan", "--rules", "rules.toml", "--json", "--state-dir", "state",
                  "leaks/")
    assert "".join(lines) == cli.out
    rows = [json.loads(line) for line in lines]
    hits = sum(len(r["hits"]) for r in rows)
    assert len(rows) == 300 and sum(bool(r["hits"]) for r in rows) == 43 and hits > 43
    assert summary.startswith("scanned 300 document(s) (") and \
        f"; {hits} hit(s) in 43 document(s) (" in summary
