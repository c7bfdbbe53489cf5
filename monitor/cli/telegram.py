"""`leakmon telegram login`: create the Telegram user session once, interactively.

The daemon never prompts; this is the one place that asks for the phone number, the login
code and the two-step password (read with getpass, never echoed or logged). The session file
holds the account's authorization key: it is created under umask 077 and checked to be 0600.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.collectors.telegram import (
    api_credentials,
    make_telegram_client,
    secure_session_file,
    session_path,
)
from monitor.errors import CollectorError, ConfigError

if TYPE_CHECKING:
    from monitor.cli import Commands
    from monitor.cli._context import Context

# Tests replace this to serve a TelegramClient that does not reach Telegram.
CLIENT_FACTORY: Callable[[Path, int, str], Any] = make_telegram_client


def register(sub: Commands) -> None:
    p = sub.add_parser(
        "telegram", help="Telegram user session for `telegram` sources",
        description="Manage the Telegram user session used by `type = \"telegram\"` sources.")
    tsub = sub.subcommands(p, dest="telegram_command")
    login = tsub.add_parser(
        "login", help="log in once, interactively (phone, code, 2FA password)",
        description="Create <state_dir>/telegram.session (mode 0600). api_id and api_hash "
                    "come from a [[sources]] table of type \"telegram\" (or --source NAME), "
                    "else $LEAKMON_TELEGRAM_API_ID / $LEAKMON_TELEGRAM_API_HASH.")
    login.add_argument("--source", metavar="NAME",
                       help="take api_id/api_hash from this telegram source")
    login.add_argument("--phone", metavar="PHONE",
                       help="phone number in international format (else asked)")
    login.set_defaults(func=cmd_login)


def _table(ctx: Context, name: str | None) -> dict[str, Any] | None:
    if name is None:
        return None
    for t in ctx.config.sources:
        if t.get("name") == name:
            if t.get("type") != "telegram":
                raise ConfigError(f"source {name!r} is of type {t.get('type')!r}, not telegram")
            return t
    raise ConfigError(f"no source named {name!r} in the configuration")


def cmd_login(ctx: Context, args: argparse.Namespace) -> int:
    api_id, api_hash = api_credentials(ctx.config, _table(ctx, args.source))
    state_dir = ctx.state_dir
    old = os.umask(0o077)
    try:
        me = asyncio.run(_login(state_dir, api_id, api_hash, args.phone))
    finally:
        os.umask(old)
    secure_session_file(state_dir)
    name = " ".join(p for p in (getattr(me, "first_name", None),
                                getattr(me, "last_name", None)) if p) or "?"
    handle = f" (@{me.username})" if getattr(me, "username", None) else ""
    print(f"Logged in as {name}{handle}.")
    print(f"Session saved to {session_path(state_dir)} (mode 0600); "
          "telegram sources can now run.")
    return 0


async def _login(state_dir: Path, api_id: int, api_hash: str, phone: str | None) -> Any:
    client = CLIENT_FACTORY(state_dir, api_id, api_hash)
    try:
        await client.start(
            phone=lambda: phone or input("Phone number (international format, e.g. +33…): "),
            code_callback=lambda: input("Login code sent by Telegram: "),
            password=lambda: getpass.getpass("Two-step verification password: "),
        )
        me = await client.get_me()
    except OSError as e:
        raise CollectorError(f"cannot reach Telegram to log in: {e}") from None
    finally:
        await client.disconnect()
    if me is None:
        raise CollectorError("Telegram login did not complete (no account returned)")
    return me
