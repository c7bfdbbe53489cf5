"""`leakmon status`: sources, outbox backlog and incidents at a glance."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from monitor.cli._context import Context

if TYPE_CHECKING:
    from monitor.cli import Commands

HELP = """\
Show each source's last run, last success, last error, items, consecutive failures and next
run; the outbox backlog per sink; and incidents by triage status. Safe to run next to the
daemon (read-only).

examples:
  leakmon --config config.toml status
  leakmon --config config.toml status --json | jq '.sources[] | select(.consecutive_failures > 0)'
"""


def register(sub: Commands) -> None:
    p = sub.add_parser("status", help="sources, outbox backlog and incidents", description=HELP)
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(func=cmd_status)


def cmd_status(ctx: Context, args: argparse.Namespace) -> int:
    from monitor.daemon.status import gather_status, render_status

    report = gather_status(ctx.config, ctx.state_dir)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(render_status(report))
    return 0
