"""`leakmon doctor`: check everything a deployment needs and say what to fix.

Each check returns OK, WARN or FAIL with a one-line fix. Nothing here prompts, and the only
network traffic is a TCP connect (plus a SOCKS5 greeting to the Tor proxy) to hosts the config
already names, so it is safe to run from a deployment script or a health probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from monitor.config import Config, load_config
from monitor.errors import LeakmonError, LockBusyError
from monitor.models import Check
from monitor.net import CONNECT_TIMEOUT

if TYPE_CHECKING:
    from monitor.matching.rules import RuleProblem

OK: Final = "OK"
WARN: Final = "WARN"
FAIL: Final = "FAIL"
SESSION_NAME = "telegram.session"
KEY_NAME = "fingerprint.key"


def run_checks(config_path: str | Path | None, state_dir: Path) -> list[Check]:
    """All checks, in the order an operator would fix things."""
    checks: list[Check] = []
    try:
        config = load_config(config_path)
    except LeakmonError as e:
        return [Check(FAIL, "config", str(e), "fix the file and run `leakmon doctor` again")]
    if config_path is None:
        checks.append(Check(WARN, "config", "no --config given: built-in defaults, no sources",
                            "pass --config FILE (see config.example.toml)"))
    else:
        checks.append(Check(OK, "config", f"{config_path} parses "
                            f"({len(config.sources)} sources, {len(config.sinks)} sinks)"))
    checks += list(check_state_dir(state_dir))
    checks += list(check_store(config))
    checks += list(check_rules(config, state_dir))
    checks += list(check_sources(config, state_dir))
    checks += list(check_tor(config))
    checks += list(check_source_types(config, state_dir))
    checks += list(check_sinks(config))
    checks += list(check_metrics(config))
    return checks


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def check_state_dir(state_dir: Path) -> Iterator[Check]:
    if not state_dir.is_dir():
        yield Check(FAIL, "state dir", f"{state_dir} does not exist",
                    f"mkdir -m 700 {state_dir} (or let `leakmon run` create it)")
        return
    mode = _mode(state_dir)
    if mode & 0o077:
        yield Check(FAIL, "state dir", f"{state_dir} is mode {mode:04o}: others can read it",
                    f"chmod 700 {state_dir}")
    elif not os.access(state_dir, os.W_OK | os.X_OK):
        yield Check(FAIL, "state dir", f"{state_dir} is not writable by this user",
                    "chown the folder to the user running leakmon")
    else:
        yield Check(OK, "state dir", f"{state_dir} (mode {mode:04o})")
    for name, what in ((KEY_NAME, "fingerprint key"), ("leakmon.db", "database"),
                       (SESSION_NAME, "telegram session file")):
        path = state_dir / name
        if not path.exists():
            continue
        mode = _mode(path)
        if mode & 0o077:
            yield Check(FAIL, what, f"{path} is mode {mode:04o}: readable beyond its owner",
                        f"chmod 600 {path}")
        else:
            yield Check(OK, what, f"{path} (mode {mode:04o})")
    if os.environ.get("LEAKMON_FINGERPRINT_KEY"):
        yield Check(OK, "fingerprint key", "taken from $LEAKMON_FINGERPRINT_KEY")


def check_store(config: Config) -> Iterator[Check]:
    """`[store] url`: connect to PostgreSQL and read its schema version, changing nothing (the
    SQLite file is checked with the state directory above)."""
    if not config.store.url:
        return
    from monitor.store import LATEST_VERSION, Store

    try:
        where, version = Store.peek_version(config)
    except LeakmonError as e:
        yield Check(FAIL, "store", str(e), "check [store] url and password, that the server "
                    "runs and that it accepts this host and user (pg_hba.conf)")
        return
    if version > LATEST_VERSION:
        yield Check(FAIL, "store", f"{where}: schema version {version} is newer than this "
                    f"leakmon's ({LATEST_VERSION})", "upgrade leakmon")
    elif version < LATEST_VERSION:
        yield Check(WARN, "store", f"{where}: schema version {version}, this leakmon's is "
                    f"{LATEST_VERSION}", "`leakmon run` (or any command) migrates it on start")
    else:
        yield Check(OK, "store", f"{where}: schema version {version}")


def check_rules(config: Config, state_dir: Path) -> Iterator[Check]:
    if not config.rules:
        yield Check(FAIL, "rules", "the config names no rule files",
                    'add rules = ["rules"] (the shipped rules) to the config')
        return
    try:
        from monitor.matching.loader import load_engine

        loaded = load_engine(config, state_dir)
    except LeakmonError as e:
        yield Check(FAIL, "rules", str(e), "fix the rule files (`leakmon rules check PATH`)")
        for p in getattr(e, "problems", []) or []:
            yield Check(FAIL, "rule problem", _problem(p), "see `leakmon rules check`")
        return
    problems = list(getattr(loaded.ruleset, "problems", []) or [])
    for p in problems:
        sev = str(getattr(p, "severity", "error") or "error").lower()
        yield Check(WARN if sev in ("warning", "info") else FAIL, "rule problem", _problem(p),
                    "the daemon skips this rule and refuses a SIGHUP reload until it is fixed; "
                    "re-check with `leakmon rules check`")
    rules = len(getattr(loaded.ruleset, "rules", []) or [])
    yield Check(OK if rules else FAIL, "rules",
                f"{rules} rules loaded from {', '.join(str(r) for r in config.rules)}",
                "" if rules else "add at least one usable rule")


def _problem(p: RuleProblem) -> str:
    from monitor.daemon.runtime import format_problem

    return format_problem(p)


def check_sources(config: Config, state_dir: Path) -> Iterator[Check]:
    if not config.sources:
        yield Check(WARN, "sources", "no [[sources]] configured: the daemon will watch nothing",
                    "add sources (see config.example.toml)")
        return
    from monitor.collectors import build_collector

    for table in config.sources:
        name = table.get("name")
        try:
            collector = build_collector(table, config, state_dir)
        except LeakmonError as e:
            yield Check(FAIL, f"source {name}", str(e), "fix this [[sources]] table")
            continue
        close = getattr(collector, "aclose", None)
        if close is not None:
            try:
                asyncio.run(close())
            except Exception:  # closing an unused collector is best effort
                pass
        state = "enabled" if table.get("enabled", True) else "disabled"
        yield Check(OK, f"source {name}", f"type {table.get('type')}, {state}")


def _uses_tor(config: Config) -> bool:
    for table in config.sources:
        if table.get("tor") is True and table.get("enabled", True) is not False:
            return True
        for value in table.values():
            if isinstance(value, str) and ".onion" in value:
                return True
    return False


def socks5_greeting(host: str, port: int, timeout: float = CONNECT_TIMEOUT) -> str | None:
    """None when a SOCKS5 server answers the no-auth greeting, else what went wrong."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"\x05\x01\x00")
            answer = sock.recv(2)
    except OSError as e:
        return f"cannot connect to {host}:{port}: {e.strerror or e}"
    if answer == b"\x05\x00":
        return None
    if answer[:1] == b"\x05":
        return f"{host}:{port} speaks SOCKS5 but refuses unauthenticated clients ({answer!r})"
    return f"{host}:{port} does not speak SOCKS5 (answered {answer!r})"


def check_tor(config: Config) -> Iterator[Check]:
    if not _uses_tor(config):
        return
    proxy = config.network.tor_proxy
    parts = urlsplit(proxy)
    if parts.scheme != "socks5h":
        yield Check(FAIL, "tor proxy", f"{proxy} is not socks5h:// (DNS would leak locally)",
                    "set [network] tor_proxy = \"socks5h://127.0.0.1:9050\"")
        return
    host, port = parts.hostname or "127.0.0.1", parts.port or 9050
    problem = socks5_greeting(host, port)
    if problem:
        yield Check(FAIL, "tor proxy", problem,
                    "start Tor (systemctl start tor) or fix [network] tor_proxy")
    else:
        yield Check(OK, "tor proxy", f"SOCKS5 answers on {host}:{port}")


def check_source_types(config: Config, state_dir: Path) -> Iterator[Check]:
    """Each kind of enabled source checks its own setup once (the telegram session and
    login); doctor only lends it the state directory while no daemon holds it."""
    from monitor.collectors.registry import TYPES, setup_checks

    types = dict.fromkeys(t.get("type") for t in config.sources
                          if t.get("enabled", True) is not False)
    for type_name in types:
        if type_name in TYPES:  # an unknown type is already a FAIL of check_sources
            yield from setup_checks(str(type_name), config, state_dir,
                                    lambda: _exclusive(state_dir))


@contextlib.contextmanager
def _exclusive(state_dir: Path) -> Iterator[None]:
    """Hold the state-dir lock for a check that must not run beside another leakmon
    process; LockBusyError naming that process when one holds it."""
    from monitor.daemon.lock import StateLock, holder_pid

    pid = holder_pid(state_dir)
    who = f"leakmon (pid {pid})" if pid is not None else "another leakmon process"
    if pid is not None:
        raise LockBusyError(f"{who} is using the sessions in {state_dir}")
    try:
        lock = StateLock(state_dir).acquire(0)
    except LockBusyError:
        raise LockBusyError(f"{who} is using the sessions in {state_dir}") from None
    with lock:
        yield


def check_sinks(config: Config) -> Iterator[Check]:
    if not config.sinks:
        yield Check(WARN, "sinks", "no [[sinks]] configured: alerts stay in the outbox",
                    "add a sink (see config.example.toml), then `leakmon sinks test`")
        return
    try:
        from monitor.alerting.sinks import build_sinks

        sinks = build_sinks(config.sinks, config)
    except LeakmonError as e:
        yield Check(FAIL, "sinks", str(e), "fix the [[sinks]] table it names")
        return
    try:
        for sink in sinks:
            yield sink.check()
    finally:
        for sink in sinks:
            sink.close()


def check_metrics(config: Config) -> Iterator[Check]:
    listen = config.daemon.metrics_listen
    if not listen:
        return
    from monitor.daemon.metrics import parse_listen

    try:
        host, port = parse_listen(listen)
    except LeakmonError as e:
        yield Check(FAIL, "metrics", str(e), "fix [daemon] metrics_listen")
        return
    yield Check(OK, "metrics", f"will listen on http://{host}:{port}/metrics")


def exit_code(checks: list[Check]) -> int:
    return 1 if any(c.status == FAIL for c in checks) else 0
