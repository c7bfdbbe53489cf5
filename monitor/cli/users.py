"""`leakmon users`: console accounts and API tokens."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING

from monitor.errors import LeakmonError
from monitor.store import Store
from monitor.store import users as accounts

if TYPE_CHECKING:
    from monitor.cli import Commands
    from monitor.cli._context import Context

HELP = """\
examples:
  leakmon users add alice --role analyst              (asks for the password twice)
  printf '%s' "$PW" | leakmon users add bot --role viewer --password-stdin
  leakmon users add sso-user --role viewer --no-password   (reverse-proxy login only)
  leakmon users token alice --label soar               (prints a new API token once)
  leakmon users list
  leakmon users remove alice
"""


def register(sub: Commands) -> None:
    p = sub.add_parser("users", help="console accounts and API tokens",
                       description="Console accounts and API tokens.", epilog=HELP)
    us = sub.subcommands(p, dest="users_command")
    ap = us.add_parser("add", help="create an account")
    ap.add_argument("name")
    ap.add_argument("--role", choices=accounts.ROLES, required=True)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--password-stdin", action="store_true",
                   help="read the password from stdin (one line)")
    g.add_argument("--no-password", action="store_true",
                   help="no password login (reverse-proxy header only)")
    ap.set_defaults(func=cmd_add)
    lp = us.add_parser("list", help="accounts and roles")
    lp.set_defaults(func=cmd_list)
    rp = us.add_parser("remove", help="delete an account, its tokens and sessions")
    rp.add_argument("name")
    rp.set_defaults(func=cmd_remove)
    tp = us.add_parser("token", help="create an API token (printed once, stored hashed)")
    tp.add_argument("name")
    tp.add_argument("--label", default="")
    tp.set_defaults(func=cmd_token)
    vp = us.add_parser("revoke", help="delete every API token of an account")
    vp.add_argument("name")
    vp.set_defaults(func=cmd_revoke)


def _password(args: argparse.Namespace) -> str | None:
    if args.no_password:
        return None
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        raise LeakmonError("the passwords differ")
    return first


def _store(ctx: Context) -> Store:
    return Store.from_config(ctx.config, ctx.state_dir)


def cmd_add(ctx: Context, args: argparse.Namespace) -> int:
    password = _password(args)
    with _store(ctx) as store:
        user = accounts.add_user(store, args.name, args.role, password)
    print(f"user {user.name} added with role {user.role}")
    return 0


def cmd_list(ctx: Context, args: argparse.Namespace) -> int:
    with _store(ctx) as store:
        for u in accounts.list_users(store):
            print(f"{u.name:<24} {u.role:<8} {u.created_at:%Y-%m-%d %H:%M}")
    return 0


def cmd_remove(ctx: Context, args: argparse.Namespace) -> int:
    with _store(ctx) as store:
        accounts.remove_user(store, args.name)
    print(f"user {args.name} removed")
    return 0


def cmd_token(ctx: Context, args: argparse.Namespace) -> int:
    with _store(ctx) as store:
        token = accounts.create_token(store, args.name, args.label)
    print(token)
    return 0


def cmd_revoke(ctx: Context, args: argparse.Namespace) -> int:
    with _store(ctx) as store:
        n = accounts.revoke_tokens(store, args.name)
    print(f"{n} token(s) of {args.name} revoked")
    return 0
