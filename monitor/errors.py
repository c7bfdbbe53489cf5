"""Exceptions shared across leakmon. Every message names what is wrong and where."""

from __future__ import annotations


class LeakmonError(Exception):
    """Base class: an error the CLI reports as one clear line, exit status 2."""

    exit_code = 2


class ConfigError(LeakmonError):
    """The configuration file is missing, unreadable or invalid."""


class StateDirError(LeakmonError):
    """The state directory cannot be created or has unsafe permissions."""


class RuleFileError(LeakmonError):
    """A rule file cannot be used. `problems` lists every (file, rule id, line, message)."""

    def __init__(self, message: str, problems: list | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class FingerprintError(LeakmonError):
    """A fingerprint set or key cannot be created, read or used."""


class StoreError(LeakmonError):
    """The store (SQLite or PostgreSQL) cannot be opened, migrated or written."""


class CollectorError(LeakmonError):
    """A source failed; the daemon records it and tries again later."""


class SinkError(LeakmonError):
    """A notification sink refused or failed a delivery."""


class LockBusyError(LeakmonError):
    """Another leakmon process holds the state directory lock."""

    exit_code = 75  # EX_TEMPFAIL: cron may try again later
