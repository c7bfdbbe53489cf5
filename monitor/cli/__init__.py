"""The `leakmon` command line: argument parsing only; the work is done by library functions.

Each command lives in its own module under `monitor.cli` and exposes
`register(subparsers) -> None`, adding its parser with `set_defaults(func=handler)`.
A handler takes `(ctx: Context, args: argparse.Namespace)` and returns an exit status.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from monitor import __version__
from monitor.cli._context import Context
from monitor.errors import LeakmonError
from monitor.log import setup_logging
from monitor.matching.loader import gc_paused

# The order here is the order of `leakmon --help`.
COMMAND_MODULES = (
    "scan",
    "rules",
    "fingerprints",
    "alerts",
    "sinks",
    "run",
    "once",
    "status",
    "doctor",
    "sources",
    "telegram",
    "users",
    "web",
)

DESCRIPTION = """\
Watch Telegram channels, paste sites, Tor forums and leak sites for your organization's
names and for fingerprints of its own records; group what is found into incidents and
notify the security team once.
"""

EPILOG = """\
examples:
  leakmon scan --rules rules/ dump.csv               scan files with the shipped rules
  leakmon fingerprints import patients sample.csv --id-column id --field nir=fr_nir
  leakmon --config config.example.toml run            run the daemon
  leakmon alerts list --status new                    triage what was found

Every command takes --state-dir DIR (else $LEAKMON_STATE_DIR, else the config's
state_dir, else ./state). `leakmon COMMAND --help` explains each command.
"""


# Global options that take a value: the token after them is never the command's name.
_VALUE_OPTIONS = frozenset({"--config", "--state-dir", "--log-level", "--log-format"})


def command_in(argv: Sequence[str]) -> str | None:
    """The command `argv` asks for, found without importing any command module, or None
    (no command, `--help` / `--version` before it, or a name we do not know)."""
    tokens = iter(argv)
    for token in tokens:
        if token in ("-h", "--help", "--version"):
            return None
        if token in _VALUE_OPTIONS:
            next(tokens, None)
        elif not token.startswith("-"):
            return token if token in COMMAND_MODULES else None
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or with `only` just that command: `leakmon scan` then imports
    the scan module alone, not the store, alerting and collectors the other commands need."""
    common = argparse.ArgumentParser(add_help=False)
    g = common.add_argument_group("global options")
    g.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                   help="TOML configuration file (see config.example.toml)")
    g.add_argument("--state-dir", metavar="DIR", default=argparse.SUPPRESS,
                   help="where the database, fingerprint sets, key and sessions live")
    g.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                   default=argparse.SUPPRESS, help="log verbosity (default: from config, info)")
    g.add_argument("--log-format", choices=["text", "json"], default=argparse.SUPPRESS,
                   help="log line format on stderr (default: from config, text)")

    parser = argparse.ArgumentParser(
        prog="leakmon", description=DESCRIPTION, epilog=EPILOG, parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"leakmon {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command")
    sub.required = True
    commands = Commands(sub, common)
    for name in COMMAND_MODULES if only is None else (only,):
        module = importlib.import_module(f"monitor.cli.{name}")
        module.register(commands)
    return parser


class Commands:
    """A group of (sub)commands whose every parser also accepts the global options, so that
    `leakmon alerts list --state-dir X` works as well as `leakmon --state-dir X alerts list`."""

    def __init__(self, action: argparse._SubParsersAction,
                 common: argparse.ArgumentParser) -> None:
        self._action, self.common = action, common

    def add_parser(self, name: str, **kwargs) -> argparse.ArgumentParser:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        kwargs["parents"] = [*kwargs.get("parents", []), self.common]
        return self._action.add_parser(name, **kwargs)

    def subcommands(self, parser: argparse.ArgumentParser, *, dest: str,
                    **kwargs) -> Commands:
        """Nested, required subcommands of `parser` (`leakmon alerts SUBCOMMAND`)."""
        kwargs.setdefault("metavar", "SUBCOMMAND")
        action = parser.add_subparsers(dest=dest, **kwargs)
        action.required = True
        return Commands(action, self.common)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    with gc_paused():  # start-up: the command's modules are imported here
        parser = build_parser(only=command_in(argv))
    args = parser.parse_args(argv)
    ctx = Context.from_args(args)
    try:
        setup_logging(ctx.log_level, ctx.log_format)
        return int(args.func(ctx, args) or 0)
    except LeakmonError as e:
        print(f"leakmon: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("leakmon: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    finally:
        logging.shutdown()
