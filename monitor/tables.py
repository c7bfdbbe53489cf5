"""Typed reading of one TOML table: the `[matching]`-style sections of the config, a
`[[sources]]` or `[[sinks]]` table, a `[[rules]]` table.

One set of checks for all of them: the type (ints are accepted for floats, a boolean is never
a number), required keys, unknown keys, bounds and choices, `env:VARNAME` secrets. Every
problem names where it is (file, table, key). The wording of each family is what its
operators already know (class attributes below); only `RuleTable`-style readers collect
problems instead of raising, which is why a problem goes through `problem()`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, overload

from monitor.errors import ConfigError

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

TypeSpec = type | tuple[type, ...]


def resolve_secret(value: str, *, where: str) -> str:
    """`env:VARNAME` -> that variable's value, else `value` itself: tokens and secrets can stay
    out of the config file. ConfigError naming `where` when the variable is unset or empty."""
    if not value.startswith("env:"):
        return value
    var = value[4:]
    if not _ENV_NAME.fullmatch(var):
        raise ConfigError(f"{where}: {value!r} is not a valid env:VARNAME reference")
    resolved = os.environ.get(var)
    if not resolved:
        raise ConfigError(f"{where}: environment variable {var} is not set or empty")
    return resolved


def type_ok(value: object, types: TypeSpec) -> bool:
    """`value` is one of `types`; an int passes for float, a bool only for bool."""
    types = types if isinstance(types, tuple) else (types,)
    if isinstance(value, bool) and bool not in types:
        return False
    return isinstance(value, types) or (float in types and isinstance(value, int))


class Table:
    """Typed access to one table; every error names `where` and the key.

    A getter returns the value, or `default` when the key is absent; a wrong value is a
    `problem()`: a ConfigError here, a collected problem in a subclass that goes on reading.
    """

    # wording: `{key}: {message}` after `{where}: `
    KEY_MESSAGE: ClassVar[str] = "{key}: {message}"
    TYPE_MESSAGE: ClassVar[str] = "expected {expected}, got {value}"
    MISSING: ClassVar[str] = "missing required key {key!r}"
    UNKNOWN: ClassVar[str] = "unknown key(s) {unknown}; known keys: {known}"

    def __init__(self, table: dict[str, Any], where: str) -> None:
        self.table = table
        self.where = where

    # -- problems ----------------------------------------------------------------------------

    def message(self, key: str, message: str) -> str:
        """`message` about `key`, in this family's wording, without `where`."""
        return self.KEY_MESSAGE.format(key=key, message=message)

    def error(self, key: str, message: str) -> ConfigError:
        """The ConfigError for a bad `key` (for checks the caller makes itself)."""
        return ConfigError(f"{self.where}: {self.message(key, message)}")

    def problem(self, key: str | None, message: str) -> None:
        """Report a problem with `key` (None: the table as a whole); `message` is complete."""
        raise ConfigError(f"{self.where}: {message}")

    def describe_types(self, types: TypeSpec) -> str:
        return " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))

    def describe_value(self, value: object) -> str:
        return repr(value)

    # -- keys --------------------------------------------------------------------------------

    def check_keys(self, allowed: Iterable[str], **fields: str) -> None:
        """Unknown keys are a problem; `allowed` is listed in the order given."""
        allowed = list(allowed)
        unknown = sorted(set(self.table) - set(allowed))
        if unknown:
            self.problem(None, self.UNKNOWN.format(unknown=", ".join(unknown),
                                                   known=", ".join(allowed), **fields))

    def get(self, key: str, typ: TypeSpec, default: Any = None, *,
            required: bool = False) -> Any:
        """`table[key]` checked against `typ`, else `default` (or a problem when `required`)."""
        if key not in self.table:
            if required:
                self.problem(key, self.MISSING.format(key=key))
            return default
        value = self.table[key]
        if not type_ok(value, typ):
            self.problem(key, self.message(key, self.TYPE_MESSAGE.format(
                expected=self.describe_types(typ), value=self.describe_value(value))))
            return default
        return value

    # -- typed getters -------------------------------------------------------------------------

    @overload
    def string(self, key: str, default: str, *, required: bool = False) -> str: ...

    @overload
    def string(self, key: str, default: None = None, *,
               required: bool = False) -> str | None: ...

    def string(self, key: str, default: str | None = None, *,
               required: bool = False) -> str | None:
        """None when absent (or, in a table that goes on reading after a problem, when a
        required key is missing)."""
        value = self.get(key, str, default, required=required)
        if required and not value:
            self.problem(key, self.message(key, "must not be empty"))
        return value

    def strings(self, key: str) -> list[str]:
        value = self.get(key, list, [])
        if not all(isinstance(v, str) and v for v in value):
            self.problem(key, self.message(
                key, f"expected a list of non-empty strings, got {value!r}"))
            return []
        return list(value)

    def number(self, key: str, default: float, *, minimum: float = 0.0) -> float:
        value = float(self.get(key, float, default))
        if value < minimum:
            self.problem(key, self.message(key, f"must be at least {minimum:g}, got {value:g}"))
        return value

    @overload
    def integer(self, key: str, default: int, *, lo: int, hi: int | None = None) -> int: ...

    @overload
    def integer(self, key: str, default: None, *, lo: int,
                hi: int | None = None) -> int | None: ...

    def integer(self, key: str, default: int | None, *, lo: int,
                hi: int | None = None) -> int | None:
        value = self.get(key, int, default)
        if value is not None and not (lo <= value and (hi is None or value <= hi)):
            bounds = f"between {lo} and {hi}" if hi is not None else f">= {lo}"
            self.problem(key, self.message(key, f"must be {bounds}, got {value}"))
            return default
        return value

    def boolean(self, key: str, default: bool) -> bool:
        return bool(self.get(key, bool, default))

    def choice(self, key: str, choices: Sequence[str], default: str) -> str:
        value = self.get(key, str, default)
        if value not in choices:
            self.problem(key, self.message(key, f"{value!r} is not one of {', '.join(choices)}"))
            return default
        return str(value)

    def secret(self, key: str, *, required: bool = False) -> str | None:
        """A secret value, either literal or `env:VARNAME` (read from the environment now, so
        a missing variable is reported at start-up, not at first use)."""
        value = self.string(key, required=required)
        if value is None:
            return None
        return resolve_secret(value, where=f"{self.where}: {key}")
