"""`leakmon web`: serve the analysts' console and the /api/v1 HTTP API."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from monitor.store import Store

if TYPE_CHECKING:
    from monitor.cli import Commands
    from monitor.cli._context import Context

HELP = """\
Serve the console on [web] listen (127.0.0.1:8080 by default). Put a reverse proxy with TLS in
front of it in production (docs/deploy.md). Create accounts first with `leakmon users add`.

examples:
  leakmon --config config.toml web
  leakmon --config config.toml web --listen 127.0.0.1:9090
"""


def register(sub: Commands) -> None:
    p = sub.add_parser("web", help="serve the analysts' console and HTTP API", description=HELP)
    p.add_argument("--listen", metavar="HOST:PORT", help="override [web] listen")
    p.set_defaults(func=cmd_web)


def cmd_web(ctx: Context, args: argparse.Namespace) -> int:
    from monitor.web.server import make_server, split_listen

    host, port = split_listen(args.listen or ctx.config.web.listen)
    with Store.from_config(ctx.config, ctx.state_dir) as store:
        print(f"leakmon console on http://{host}:{port}/ (Ctrl-C stops it)")
        make_server(store, ctx.config.web, args.listen, ctx.config).run()
    return 0
