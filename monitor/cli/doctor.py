"""`leakmon doctor`: check config, rules, permissions, Tor, Telegram session and sinks."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import TYPE_CHECKING

from monitor.cli._context import Context
from monitor.errors import ConfigError
from monitor.paths import resolve_state_dir

if TYPE_CHECKING:
    from monitor.cli import Commands

HELP = """\
Check a deployment and say what to fix: the config and rule files (file, rule, line), the
state directory and key file permissions (0700/0600), the Tor proxy (TCP connect + SOCKS5
greeting, when a source uses Tor), the Telegram session (when a telegram source exists), and
each sink's reachability. Prints OK / WARN / FAIL lines; exit status 1 on any FAIL.

examples:
  leakmon --config /etc/leakmon/config.toml doctor
  sudo systemd-run --pty -p DynamicUser=yes -p StateDirectory=leakmon \\
      leakmon --config /etc/leakmon/config.toml --state-dir /var/lib/leakmon doctor
"""


def register(sub: Commands) -> None:
    p = sub.add_parser("doctor", help="check the deployment and say what to fix",
                       description=HELP)
    p.add_argument("--json", action="store_true", help="one JSON object per check on stdout")
    p.set_defaults(func=cmd_doctor)


def cmd_doctor(ctx: Context, args: argparse.Namespace) -> int:
    from monitor.daemon.doctor import exit_code, run_checks

    try:
        state_dir = ctx.state_dir
    except ConfigError:  # a broken config is reported by the checks themselves
        state_dir = resolve_state_dir(ctx.state_dir_arg, None)
    checks = run_checks(ctx.config_path, state_dir)
    for check in checks:
        print(json.dumps(asdict(check)) if args.json else check.line())
    if not args.json:
        fails = sum(c.status == "FAIL" for c in checks)
        warns = sum(c.status == "WARN" for c in checks)
        print(f"\n{len(checks)} checks: {fails} FAIL, {warns} WARN")
    return exit_code(checks)
