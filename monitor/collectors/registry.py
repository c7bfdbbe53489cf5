"""`build_collector`: from a `[[sources]]` table to a ready collector, by `type`.

Each collector module declares the keys it understands (`KEYS`) and a `build(source, config,
state_dir)`; unknown keys are refused here with the source named, so a typo in the config is
an error at start-up instead of a silently ignored setting. A module may also offer
`check_setup(config, state_dir, exclusive)`: what `leakmon doctor` verifies once for all
sources of that type (the telegram session and login).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from monitor.collectors.base import Collector, SourceConfig
from monitor.config import Config
from monitor.errors import ConfigError
from monitor.models import Check

TYPES: dict[str, str] = {
    "telegram": "monitor.collectors.telegram",
    "telegram_web": "monitor.collectors.telegram_web",
    "pastebin": "monitor.collectors.pastebin",
    "github_gists": "monitor.collectors.github_gists",
    "http": "monitor.collectors.http",
    "files": "monitor.collectors.files",
}


def _module(type_name: str, where: str) -> Any:
    if type_name not in TYPES:
        raise ConfigError(f"{where}: unknown source type {type_name!r}; "
                          f"known types: {', '.join(TYPES)}")
    return importlib.import_module(TYPES[type_name])


def parse_source(table: dict[str, Any]) -> SourceConfig:
    """Validate a `[[sources]]` table: common keys and the type's own keys."""
    name = table.get("name", "?")
    module = _module(str(table.get("type")), f"source {name!r}")
    return SourceConfig.from_table(table, allowed=module.KEYS)


def build_collector(table: dict[str, Any], config: Config, state_dir: Path) -> Collector:
    """The collector for one `[[sources]]` table; ConfigError naming the source and key."""
    source = parse_source(table)
    return _module(source.type, source.where).build(source, config, state_dir)


def setup_checks(type_name: str, config: Config, state_dir: Path,
                 exclusive: Callable[[], AbstractContextManager[object]]) -> Iterator[Check]:
    """The type's own doctor checks (none for most types); `exclusive()` holds the state
    directory for a check that must not run beside the daemon (LockBusyError when busy)."""
    check = getattr(_module(type_name, f"source type {type_name!r}"), "check_setup", None)
    if check is not None:
        yield from check(config, state_dir, exclusive)


def validate_source(table: dict[str, Any], config: Config, state_dir: Path) -> SourceConfig:
    """Check every key of a source, the type's own included, by building its collector
    (which opens no connection) and closing it again."""
    import asyncio

    source = parse_source(table)
    collector = _module(source.type, source.where).build(source, config, state_dir)
    asyncio.run(collector.aclose())
    return source
