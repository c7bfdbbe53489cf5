"""`leakmon once`: one pass of the due sources plus outbox delivery, for cron."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from monitor.cli._context import Context

if TYPE_CHECKING:
    from monitor.cli import Commands

HELP = """\
Run every due source once (or only --source NAME, due or not), deliver the outbox, exit.

exit status:
  0   every source and every delivery succeeded
  1   a source or a delivery failed (named on stderr)
  75  another leakmon process holds the state directory lock and --wait ran out
      (EX_TEMPFAIL: cron simply tries again next time)

examples:
  leakmon --config config.toml once
  leakmon --config config.toml once --source pastebin --wait 60
"""


def register(sub: Commands) -> None:
    p = sub.add_parser("once", help="one pass of the due sources, for cron", description=HELP)
    p.add_argument("--source", metavar="NAME", help="run only this source (even if not due)")
    p.add_argument("--wait", metavar="SECONDS", type=float, default=0.0,
                   help="wait this long for the state directory lock (default: exit 75 at once)")
    p.set_defaults(func=cmd_once)


def cmd_once(ctx: Context, args: argparse.Namespace) -> int:
    from monitor.daemon.once import run_once
    from monitor.daemon.workers import store_opener

    state_dir = ctx.state_dir
    report = run_once(ctx.config_path, state_dir, only=args.source, wait=args.wait,
                      store_opener=store_opener(ctx.config))
    for run in report.runs:
        line = (f"{run.source}: {run.outcome}, {run.items} items, {run.documents} documents, "
                f"{run.hits} hits")
        if run.ok:
            print(line)
        else:
            print(f"leakmon: source {run.source} failed: {run.error}", file=sys.stderr)
    for name in report.skipped:
        print(f"{name}: not due yet")
    d = report.delivery
    if report.delivery_error:
        print(f"leakmon: outbox delivery failed: {report.delivery_error}", file=sys.stderr)
    elif d is not None:
        summary = ", ".join(f"{k} {getattr(d, k)}" for k in ("sent", "failed", "dead", "digested")
                            if hasattr(d, k))
        print(f"outbox: {summary}")
        if report.delivery_failed:
            for err in _delivery_errors(d):
                print(f"leakmon: delivery failed: {err}", file=sys.stderr)
            if not list(_delivery_errors(d)):
                print("leakmon: some deliveries failed (see `leakmon status`)", file=sys.stderr)
    return report.exit_code


def _delivery_errors(report: object) -> list[str]:
    errors = getattr(report, "errors", None)
    if isinstance(errors, dict):
        return [f"{k}: {v}" for k, v in errors.items()]
    if isinstance(errors, list | tuple):
        return [str(e) for e in errors]
    return []
