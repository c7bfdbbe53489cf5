"""What every command handler needs: the config, the state directory, log settings."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from monitor.config import Config, load_config
from monitor.paths import ensure_state_dir, resolve_state_dir


@dataclass
class Context:
    config_path: str | None
    state_dir_arg: str | None
    log_level_arg: str | None = None
    log_format_arg: str | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Context:
        return cls(
            config_path=getattr(args, "config", None),
            state_dir_arg=getattr(args, "state_dir", None),
            log_level_arg=getattr(args, "log_level", None),
            log_format_arg=getattr(args, "log_format", None),
        )

    @cached_property
    def config(self) -> Config:
        """The loaded config (built-in defaults when no --config was given)."""
        return load_config(self.config_path)

    @property
    def log_level(self) -> str:
        if self.log_level_arg:
            return self.log_level_arg
        return self.config.daemon.log_level if self.config_path else "warning"

    @property
    def log_format(self) -> str:
        if self.log_format_arg:
            return self.log_format_arg
        return self.config.daemon.log_format if self.config_path else "text"

    @cached_property
    def state_dir(self) -> Path:
        """The state directory, created (0700) on first use."""
        return ensure_state_dir(resolve_state_dir(self.state_dir_arg, self.config.state_dir))
