"""`leakmon run`: the daemon (scheduler, signals, systemd notify, metrics)."""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import TYPE_CHECKING

from monitor.cli._context import Context

if TYPE_CHECKING:
    from monitor.cli import Commands

log = logging.getLogger(__name__)

HELP = """\
Run the monitoring daemon: every enabled source on its schedule, outbox delivery and
retention pruning, until SIGTERM or SIGINT (in-flight batches are committed first).

  SIGHUP   reload config and rules; a broken file is logged (file, rule, line) and the
           daemon keeps its last good set
  systemd  Type=notify: READY=1, STATUS=, WATCHDOG=1, RELOADING=1, STOPPING=1

Only one leakmon process works on a state directory at a time (flock on leakmon.lock).
Several workers (each with its own state directory) may share one store: each source is
leased by one worker at a time, a dead worker's sources are taken over after [daemon]
lease_ttl, and a source with `worker_label` runs only on a worker with that label
(docs/deploy.md, "Several workers").

examples:
  leakmon --config config.example.toml run
  leakmon --config /etc/leakmon/config.toml --log-format json run
  leakmon --config /etc/leakmon/config.toml run --label tg-account-1
"""


def register(sub: Commands) -> None:
    p = sub.add_parser("run", help="run the monitoring daemon", description=HELP)
    p.add_argument("--wait", metavar="SECONDS", type=float, default=0.0,
                   help="wait this long for another leakmon process to release the state "
                        "directory lock (default: fail at once, exit 75)")
    p.add_argument("--label", action="append", default=[], metavar="LABEL",
                   help="run the sources pinned to LABEL (their `worker_label`), besides the "
                        "unpinned ones; repeatable; adds to [daemon] labels")
    p.set_defaults(func=cmd_run)


def cmd_run(ctx: Context, args: argparse.Namespace) -> int:
    from monitor.daemon.lock import StateLock
    from monitor.daemon.runtime import ensure_drop_folders, load_runtime
    from monitor.daemon.scheduler import Daemon
    from monitor.daemon.workers import store_opener
    from monitor.web.server import start_console

    state_dir = ctx.state_dir
    config = ctx.config  # parse errors surface here, before the lock is taken
    with StateLock(state_dir).acquire(args.wait):
        runtime = load_runtime(ctx.config_path, state_dir, strict=False)
        ensure_drop_folders(runtime)
        daemon = Daemon(runtime, state_dir=state_dir, config_path=ctx.config_path,
                        store_opener=store_opener(config), labels=tuple(args.label),
                        console=start_console)
        return asyncio.run(daemon.run())
