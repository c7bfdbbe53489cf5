"""Everything the daemon builds from the config file, validated as one unit.

Start-up and SIGHUP both go through `load_runtime`. A reload must be all-or-nothing: the config
parses, every rule file is clean, every sink and source table is valid — only then does the
daemon swap to the new set. Otherwise it logs each problem (file, rule, line) and keeps running
with the last good set, so a typo pushed at 3 a.m. never blinds the monitor.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.collectors.base import SourceConfig
from monitor.config import Config, load_config, parse_duration
from monitor.daemon.source_tables import source_configs
from monitor.errors import ConfigError, LeakmonError

if TYPE_CHECKING:
    from monitor.alerting.sinks.base import Sink
    from monitor.matching.engine import Engine
    from monitor.matching.extract import Limits
    from monitor.matching.rules import RuleProblem, RuleSet

log = logging.getLogger(__name__)


class ReloadError(LeakmonError):
    """The configuration cannot be (re)loaded; `problems` lists each thing to fix."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


@dataclass(slots=True)
class DaemonTimings:
    """The `[daemon]` durations, parsed once (ConfigError names the key)."""

    outbox_every: float
    prune_every: float
    shutdown_timeout: float
    lease_ttl: float = 30.0
    lease_renew: float = 10.0

    @classmethod
    def of(cls, config: Config) -> DaemonTimings:
        d = config.daemon
        ttl = parse_duration(d.lease_ttl, where="[daemon] lease_ttl")
        if ttl < 1:
            raise ConfigError(f"[daemon] lease_ttl = {d.lease_ttl!r}: must be at least 1s")
        renew = (parse_duration(d.lease_renew, where="[daemon] lease_renew")
                 if d.lease_renew else ttl / 3)
        if not 0 < renew < ttl:
            raise ConfigError(f"[daemon] lease_renew = {d.lease_renew!r}: must be more than 0 "
                              f"and less than lease_ttl ({d.lease_ttl}), or a renewal comes "
                              "too late to keep the leases")
        return cls(
            outbox_every=max(1.0, parse_duration(d.outbox_every, where="[daemon] outbox_every")),
            prune_every=max(1.0, parse_duration(d.prune_every, where="[daemon] prune_every")),
            shutdown_timeout=parse_duration(d.shutdown_timeout, where="[daemon] shutdown_timeout"),
            lease_ttl=ttl, lease_renew=renew,
        )


@dataclass(slots=True)
class Runtime:
    """One consistent generation of config, compiled rules, sinks and sources."""

    config: Config
    engine: Engine
    ruleset: RuleSet
    sinks: list[Sink]
    sources: list[SourceConfig]
    tables: dict[str, dict[str, Any]]  # each source's [[sources]] TOML table, by name
    limits: Limits
    timings: DaemonTimings
    rule_problems: list[str] = field(default_factory=list)

    @property
    def enabled_sources(self) -> list[SourceConfig]:
        return [s for s in self.sources if s.enabled]

    def source(self, name: str) -> SourceConfig | None:
        return next((s for s in self.sources if s.name == name), None)

    def summary(self) -> str:
        rules = len(getattr(self.ruleset, "rules", []) or [])
        return (f"{rules} rules, {len(self.enabled_sources)} sources "
                f"({len(self.sources) - len(self.enabled_sources)} disabled), "
                f"{len(self.sinks)} sinks")


def format_problem(problem: RuleProblem) -> str:
    """`FILE:LINE: rule ID: message` for a RuleProblem (or anything with those attributes)."""
    file = getattr(problem, "file", None) or "?"
    line = getattr(problem, "line", None)
    rule = getattr(problem, "rule_id", None)
    where = f"{file}:{line}" if line else str(file)
    who = f" rule {rule}:" if rule else ""
    return f"{where}:{who} {getattr(problem, 'message', problem)}"


def _is_error(problem: RuleProblem) -> bool:
    return str(getattr(problem, "severity", "error") or "error").lower() not in ("warning", "info")


def load_runtime(config_path: str | Path | None, state_dir: Path, *, strict: bool) -> Runtime:
    """Load config, rules, fingerprint sets, sinks and source tables.

    strict=True (SIGHUP): any rule problem rejects the whole set. strict=False (start-up, `once`):
    problems are logged and the clean rule files still load, as `leakmon scan` does.
    Raises ReloadError (or the underlying LeakmonError) naming what is wrong.
    """
    from monitor.alerting.sinks import build_sinks
    from monitor.matching.extract import Limits
    from monitor.matching.loader import load_engine

    config = load_config(config_path)
    timings = DaemonTimings.of(config)
    sources = source_configs(config.sources)
    loaded = load_engine(config, state_dir)
    problems = [p for p in getattr(loaded.ruleset, "problems", []) or []]
    lines = [format_problem(p) for p in problems]
    errors = [format_problem(p) for p in problems if _is_error(p)]
    if strict and errors:  # warnings (e.g. a rule without tests) do not block a reload
        raise ReloadError(
            f"{len(errors)} error(s) in the rule files; fix them and send SIGHUP again", errors)
    sinks = list(build_sinks(config.sinks, config))
    return Runtime(
        config=config, engine=loaded.engine, ruleset=loaded.ruleset, sinks=sinks,
        sources=sources, tables={t["name"]: t for t in config.sources},
        limits=Limits.from_config(config.matching), timings=timings, rule_problems=lines,
    )


def ensure_drop_folders(runtime: Runtime) -> list[Path]:
    """Create missing drop folders of enabled `files` sources (0700), so a fresh checkout runs
    `leakmon --config config.example.toml run` as is. Logged, so a typo'd path is visible."""
    created: list[Path] = []
    for src in runtime.enabled_sources:
        raw = src.options.get("path") if src.type == "files" else None
        if not isinstance(raw, str):
            continue
        path = runtime.config.resolve(raw)
        if not path.exists():
            try:
                path.mkdir(mode=0o700, parents=True)
            except OSError as e:
                log.warning("source %s: cannot create drop folder %s: %s", src.name, path,
                            e.strerror)
                continue
            log.info("source %s: created drop folder %s", src.name, path)
            created.append(path)
    return created
