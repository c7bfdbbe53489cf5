"""Run `leakmon` in-process, the way a shell would, and capture what it prints."""

from __future__ import annotations

import io
import sys
from typing import Any, NamedTuple

from monitor.cli import main


class CliRun(NamedTuple):
    code: int
    out: str
    err: str


def run_cli(capsys: Any, *argv: Any, stdin: str | None = None) -> CliRun:
    """`leakmon ARGV...` through `monitor.cli.main`: its exit code, stdout and stderr (read
    with pytest's `capsys`); `stdin` is what the command reads from standard input."""
    old = sys.stdin
    if stdin is not None:
        sys.stdin = io.StringIO(stdin)
    try:
        code = main([str(a) for a in argv])
    finally:
        sys.stdin = old
    out, err = capsys.readouterr()
    return CliRun(code, out, err)
