"""The TOML configuration: loading, defaults and validation with errors that name the key.

Sources (`[[sources]]`) and sinks (`[[sinks]]`) are kept as raw tables here; the collector and
sink registries validate their own keys, so this module knows nothing of them.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from monitor.errors import ConfigError
from monitor.tables import Table, type_ok
from monitor.tables import resolve_secret as resolve_secret  # config's public name too

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: str | int | float, *, where: str = "duration") -> float:
    """Seconds in "90", "30s", "5m", "2h", "7d" or "1w"; ConfigError naming `where` otherwise."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a duration like '5m', got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise ConfigError(
                f"{where}: {value!r} is not a duration; use a number with s, m, h, d or w, e.g. '5m'"
            )
        seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2) or "s"]
    if seconds < 0:
        raise ConfigError(f"{where}: a duration cannot be negative ({value!r})")
    return seconds


@dataclass(slots=True)
class MatchingConfig:
    phone_region: str = "FR"  # default region for phone numbers written without +CC
    max_document_mb: float = 64.0  # larger documents are cut to this size and flagged
    max_archive_members: int = 1000
    max_unpacked_mb: float = 256.0  # total bytes unpacked from one archive (zip-bomb cap)
    max_archive_depth: int = 2  # archives inside archives
    max_compression_ratio: float = 100.0  # unpacked:packed above this (after 4 MB) is a bomb


@dataclass(slots=True)
class StoreConfig:
    evidence: bool = False  # keep raw content (compressed, 0600) for `retention_days`
    retention_days: int = 30
    url: str = ""  # postgresql://user@host:port/db (or env:VAR); empty: SQLite in state_dir
    password: str = ""  # the PostgreSQL password, as env:VARNAME (never in the file)


@dataclass(slots=True)
class NetworkConfig:
    user_agent: str = "leakmon/0.1 (+https://github.com/leakmon/leakmon)"
    timeout: float = 30.0
    max_response_mb: float = 32.0
    retries: int = 3
    tor_proxy: str = "socks5h://127.0.0.1:9050"


@dataclass(slots=True)
class DaemonConfig:
    log_level: str = "info"
    log_format: str = "text"  # text | json
    metrics_listen: str = ""  # e.g. "127.0.0.1:9464"; empty: no metrics endpoint
    outbox_every: str = "30s"
    prune_every: str = "1h"
    shutdown_timeout: str = "30s"
    web: bool = False  # also serve the console ([web]) from the daemon
    # Several workers on one store (docs/deploy.md): pinned sources run only on a worker
    # with their `worker_label`; a dead worker's sources are taken over after `lease_ttl`.
    labels: list = field(default_factory=list)
    lease_ttl: str = "30s"
    lease_renew: str = ""  # empty: lease_ttl / 3


@dataclass(slots=True)
class WebConfig:
    """`[web]`: the analysts' console (docs/web.md)."""
    listen: str = "127.0.0.1:8080"
    public_url: str = ""            # e.g. "https://leakmon.example.org"; links in notifications
    proxy_header: str = ""          # e.g. "X-Forwarded-User"; trusted only from proxy_address
    proxy_address: str = ""         # the reverse proxy's IP address, required with proxy_header
    show_unredacted: bool = False   # the console never shows raw evidence unless this is on
    secure_cookies: bool = True     # Secure flag on the session cookie (TLS at the proxy)


@dataclass(slots=True)
class Config:
    path: Path | None
    base_dir: Path  # relative paths in the file are resolved against this
    state_dir: Path | None
    rules: list[Path] = field(default_factory=list)
    fingerprints: list[str] = field(default_factory=list)
    matching: MatchingConfig = field(default_factory=MatchingConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    web: WebConfig = field(default_factory=WebConfig)
    sources: list[dict[str, Any]] = field(default_factory=list)
    sinks: list[dict[str, Any]] = field(default_factory=list)

    def resolve(self, value: str | Path) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(os.path.expanduser(str(value)))
        return p if p.is_absolute() else self.base_dir / p


_T = TypeVar("_T")


def _section(table: Any, cls: type[_T], where: str) -> _T:
    """One `[section]` as its dataclass: keys and types checked against the defaults."""
    if table is None:
        return cls()
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table, got {type(table).__name__}")
    reader = Table(table, where)
    reader.check_keys(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    defaults = cls()
    for key in table:
        reader.get(key, type(getattr(defaults, key)))
    return cls(**table)


# Lower bounds of numeric settings: a negative size or timeout would not fail loudly, it
# would silently cut every document to nothing or disable a cap.
_MINIMUMS: dict[str, dict[str, float]] = {
    "matching": {"max_document_mb": 0.001, "max_archive_members": 0, "max_unpacked_mb": 0.001,
                 "max_archive_depth": 0, "max_compression_ratio": 1},
    "store": {"retention_days": 1},
    "network": {"timeout": 0.1, "max_response_mb": 0.001, "retries": 0},
}


def _check_minimums(cfg: Config, where: str) -> None:
    for section, minimums in _MINIMUMS.items():
        values = getattr(cfg, section)
        for key, low in minimums.items():
            value = getattr(values, key)
            if value < low:
                raise ConfigError(f"{where}: [{section}] {key} = {value!r} is below its minimum {low:g}")


def _check_store_url(store: StoreConfig, where: str) -> None:
    """A literal `[store] url` must be a postgresql:// URL without a password in it."""
    from urllib.parse import urlsplit

    if not store.url or store.url.startswith("env:"):
        return
    parts = urlsplit(store.url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigError(f"{where}: [store] url must be a postgresql:// URL, got "
                          f"scheme {parts.scheme or '(none)'!r}; leave it out for SQLite")
    if parts.password or "password=" in parts.query.lower():
        raise ConfigError(f"{where}: [store] url holds a password; remove it and set "
                          "[store] password = \"env:VARNAME\" instead")


_TOP_KEYS = {"state_dir", "rules", "fingerprints", "matching", "store", "network", "daemon",
             "sources", "sinks", "web"}


def parse_config(data: dict[str, Any], *, path: Path | None = None) -> Config:
    where = str(path) if path else "config"
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown top-level key(s) {', '.join(unknown)}")
    base = path.parent.resolve() if path else Path.cwd()
    cfg = Config(path=path, base_dir=base, state_dir=None)
    if "state_dir" in data:
        cfg.state_dir = cfg.resolve(_expect(data["state_dir"], str, f"{where}: state_dir"))
    rules = data.get("rules", [])
    if isinstance(rules, str):
        rules = [rules]
    cfg.rules = [cfg.resolve(_expect(r, str, f"{where}: rules")) for r in rules]
    cfg.fingerprints = [_expect(f, str, f"{where}: fingerprints")
                        for f in data.get("fingerprints", [])]
    cfg.matching = _section(data.get("matching"), MatchingConfig, f"{where}: [matching]")
    cfg.store = _section(data.get("store"), StoreConfig, f"{where}: [store]")
    cfg.network = _section(data.get("network"), NetworkConfig, f"{where}: [network]")
    cfg.daemon = _section(data.get("daemon"), DaemonConfig, f"{where}: [daemon]")
    if not all(isinstance(x, str) and x.strip() for x in cfg.daemon.labels):
        raise ConfigError(f"{where}: [daemon] labels must be a list of non-empty strings, "
                          f"got {cfg.daemon.labels!r}")
    cfg.web = _section(data.get("web"), WebConfig, f"{where}: [web]")
    if cfg.web.proxy_header and not cfg.web.proxy_address:
        raise ConfigError(f"{where}: [web] proxy_header needs proxy_address (the proxy's IP)")
    _check_minimums(cfg, where)
    _check_store_url(cfg.store, where)
    for key in ("sources", "sinks"):
        tables = data.get(key, [])
        if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
            raise ConfigError(f"{where}: {key} must be written as [[{key}]] tables")
        names = [t.get("name") for t in tables]
        for i, t in enumerate(tables):
            if not isinstance(t.get("name"), str) or not t["name"]:
                raise ConfigError(f"{where}: [[{key}]] number {i + 1} has no name")
            if not isinstance(t.get("type"), str):
                raise ConfigError(f"{where}: [[{key}]] {t['name']!r} has no type")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"{where}: duplicate {key} name(s): {', '.join(dupes)}")
        setattr(cfg, key, tables)
    return cfg


def _expect(value: Any, typ: type, where: str) -> Any:
    if not type_ok(value, typ):
        raise ConfigError(f"{where}: expected {typ.__name__}, got {value!r}")
    return value


def load_config(path: str | Path | None) -> Config:
    """Load and validate a config file; `None` gives the built-in defaults."""
    if path is None:
        return parse_config({})
    import tomllib  # only with a config file: not at start-up of `leakmon scan`

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {p} does not exist") from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {p}: {e.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: invalid TOML: {e}") from None
    return parse_config(data, path=p)
