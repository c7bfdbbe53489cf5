"""The scheduling view of the `[[sources]]` tables.

The common keys (every, jitter, enabled, alert_after_failures, expected_silence, ...) are parsed
by the collectors' own `SourceConfig` so that the daemon and the collectors never disagree on a
default; type-specific keys are left for the collector registry to validate.
"""

from __future__ import annotations

from typing import Any

from monitor.collectors.base import SourceConfig

__all__ = ["SourceConfig", "source_config", "source_configs"]


def source_config(table: dict[str, Any]) -> SourceConfig:
    """The common keys of one `[[sources]]` table (ConfigError naming the source and key)."""
    return SourceConfig.from_table(table, allowed=set(table))


def source_configs(tables: list[dict[str, Any]]) -> list[SourceConfig]:
    """Every configured source (disabled ones included; callers filter on `.enabled`)."""
    return [source_config(t) for t in tables]
