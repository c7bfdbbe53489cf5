"""`leakmon sinks list` and `leakmon sinks test [NAME]`: see and try the configured sinks."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from monitor.alerting.delivery import make_test_notification
from monitor.alerting.sinks import Sink, build_sinks
from monitor.errors import ConfigError, LeakmonError

if TYPE_CHECKING:
    from monitor.cli import Commands
    from monitor.cli._context import Context

EPILOG = """\
examples:
  leakmon --config leakmon.toml sinks list
  leakmon --config leakmon.toml sinks test            send a test alert to every sink
  leakmon --config leakmon.toml sinks test soc-mail   only to the sink named soc-mail
"""


def register(sub: Commands) -> None:
    p = sub.add_parser("sinks", help="list the configured sinks or send them a test alert",
                       description="List the [[sinks]] of the config file, or send them a "
                                   "clearly marked test alert.", epilog=EPILOG)
    cmds = sub.subcommands(p, dest="sinks_command", title="sinks commands")
    ls = cmds.add_parser("list", help="show each sink, its filters and pending outbox items")
    ls.add_argument("--json", action="store_true", help="one JSON object per sink")
    ls.set_defaults(func=cmd_list)
    t = cmds.add_parser(
        "test",
        help="send '[TEST] leakmon test alert — no action needed' to one or all sinks",
        description="Send a test alert directly (not through the outbox) and print what each "
                    "sink answered. Its severity is the sink's min_severity, so it follows the "
                    "route of the least severe real alert. Exit status 1 if any sink failed.")
    t.add_argument("name", nargs="?", help="only this sink (default: all)")
    t.set_defaults(func=cmd_test)


def _sinks(ctx: Context) -> list[Sink]:
    if not ctx.config_path:
        raise ConfigError("sinks are configured in the config file: give --config FILE")
    sinks = build_sinks(ctx.config.sinks, ctx.config)
    if not sinks:
        raise ConfigError(f"{ctx.config_path}: no [[sinks]] configured")
    return sinks


def _backlog(ctx: Context) -> dict[str, int] | None:
    """Pending outbox items per sink, when the database exists (never created from here)."""
    from monitor.store import DB_NAME, Store

    if ctx.config.store.url:  # PostgreSQL: the database exists, or this is an error to show
        with Store.from_config(ctx.config, ctx.state_dir) as store:
            return store.outbox_backlog()
    db = ctx.state_dir / DB_NAME
    if not db.exists():
        return None
    with Store.open(db) as store:
        return store.outbox_backlog()


def cmd_list(ctx: Context, args: argparse.Namespace) -> int:
    sinks = _sinks(ctx)
    try:
        backlog = _backlog(ctx)
        rows: list[dict[str, Any]] = []  # JSON lines or the table
        for s in sinks:
            rows.append({
                "name": s.name, "type": s.kind, "target": s.describe(),
                "min_severity": s.min_severity, "rules": list(s.rules), "tags": list(s.tags),
                "digest_minutes": s.digest,
                "pending": None if backlog is None else backlog.get(s.name, 0),
            })
    finally:
        for s in sinks:
            s.close()
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return 0
    for row in rows:
        filters = []
        if row["rules"]:
            filters.append("rules " + ",".join(row["rules"]))
        if row["tags"]:
            filters.append("tags " + ",".join(row["tags"]))
        digest = f"digest every {row['digest_minutes']:g} min" if row["digest_minutes"] else \
            "one message per event"
        pending = "" if row["pending"] is None else f", {row['pending']} pending"
        print(f"{row['name']} ({row['type']}) -> {row['target']}")
        print(f"    min_severity {row['min_severity']}"
              f"{', ' + '; '.join(filters) if filters else ''}; {digest}{pending}")
    return 0


def cmd_test(ctx: Context, args: argparse.Namespace) -> int:
    sinks = _sinks(ctx)
    try:
        if args.name:
            chosen = [s for s in sinks if s.name == args.name]
            if not chosen:
                raise ConfigError(f"no sink named {args.name!r}; configured: "
                                  f"{', '.join(s.name for s in sinks)}")
        else:
            chosen = sinks
        failed = 0
        for s in chosen:
            try:
                detail = s.send(make_test_notification(s))
            except LeakmonError as e:
                failed += 1
                print(f"FAIL {s.name} ({s.kind}): {e}")
            else:
                print(f"OK   {s.name} ({s.kind}): {detail}")
            sys.stdout.flush()
    finally:
        for s in sinks:
            s.close()
    if failed:
        print(f"leakmon: {failed} of {len(chosen)} sink(s) failed", file=sys.stderr)
        return 1
    return 0
