"""Regular expressions compiled on first use, not at import.

`leakmon scan` compiles every detector's precise pattern at start-up, ~100 of them, though
a scan of chat messages uses a handful: `re` compiles at ~0.2-1 ms a pattern, serial time
before the workers start. A detector's pattern is only needed once one of its Hyperscan
triggers fires, so it is declared with `lazy(...)` and compiled then (in each worker that
needs it, after the fork).

A LazyPattern offers the `re.Pattern` methods the matching code calls; each forwards to the
compiled pattern (one extra call: fine for patterns tried per candidate, not for a module's
hot loop, which should keep `re.compile`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import AnyStr, Generic


class LazyPattern(Generic[AnyStr]):
    """`re.compile(pattern, flags)`, done on the first call of a matching method."""

    __slots__ = ("_compiled", "flags", "pattern")

    def __init__(self, pattern: AnyStr, flags: int = 0) -> None:
        self.pattern: AnyStr = pattern
        self.flags = flags
        self._compiled: re.Pattern[AnyStr] | None = None

    @property
    def compiled(self) -> re.Pattern[AnyStr]:
        """The compiled pattern (compiled now if it was not yet)."""
        got = self._compiled
        if got is None:
            got = self._compiled = re.compile(self.pattern, self.flags)
        return got

    @property
    def is_compiled(self) -> bool:
        return self._compiled is not None

    def match(self, string: AnyStr, pos: int = 0,
              endpos: int = 2**63 - 1) -> re.Match[AnyStr] | None:
        return self.compiled.match(string, pos, endpos)

    def fullmatch(self, string: AnyStr, pos: int = 0,
                  endpos: int = 2**63 - 1) -> re.Match[AnyStr] | None:
        return self.compiled.fullmatch(string, pos, endpos)

    def search(self, string: AnyStr, pos: int = 0,
               endpos: int = 2**63 - 1) -> re.Match[AnyStr] | None:
        return self.compiled.search(string, pos, endpos)

    def finditer(self, string: AnyStr, pos: int = 0,
                 endpos: int = 2**63 - 1) -> Iterator[re.Match[AnyStr]]:
        return self.compiled.finditer(string, pos, endpos)

    def __repr__(self) -> str:
        return f"lazy({self.pattern!r}, {self.flags})"

    def __reduce__(self) -> tuple[object, tuple[AnyStr, int]]:
        return LazyPattern, (self.pattern, self.flags)  # pickled uncompiled, as re.Pattern is


def lazy(pattern: AnyStr, flags: int = 0) -> LazyPattern[AnyStr]:
    """A pattern compiled when first used (see the module docstring)."""
    return LazyPattern(pattern, flags)
