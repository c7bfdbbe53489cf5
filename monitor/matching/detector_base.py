"""What a detector is: Hyperscan triggers, a precise Python pattern and a validator.

Kept apart from detectors.py so that the secrets package (one module per vendor family) can
define detectors without importing the registry that collects them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from monitor.matching.hyperscan_db import Pattern
from monitor.matching.kinds._common import text_of
from monitor.matching.kinds.base import Found, NativeMatches  # Found: values stay in memory
from monitor.matching.lazy_re import LazyPattern

__all__ = ["Detector", "Found", "text_of", "trigger"]


@dataclass(slots=True, frozen=True)
class Detector:
    """`triggers` feed the Hyperscan database; `precise` + `validate` confirm candidates in
    the region [end - reach, end + after] around the *end* of each trigger match (whole
    lines if `lines`). Triggers are written so that each candidate ends once (\\b anchors,
    fixed lengths) and need no start offsets (SOM is costly): `reach` covers the longest
    trigger plus what the precise pattern may need before it."""

    name: str
    description: str
    triggers: tuple[Pattern, ...]
    precise: re.Pattern[bytes] | LazyPattern[bytes] | None
    validate: Callable[[re.Match[bytes], str], str | None] | None
    reach: int = 32
    after: int = 8
    lines: bool = False
    custom: Callable[[bytes, int, int, str], list[Found]] | None = None
    # Bulk detectors (see engine/bulk.py) are scanned apart from the main database: those with
    # `native` triggers all in one C pass, the others in one Hyperscan pass per scan_group.
    scan_group: str = ""
    # The C mirror of each trigger (triggers.py ids): one byte loop finds them all, several
    # times faster than Hyperscan on these class repeats.
    native: tuple[int, ...] = ()
    # `precise` + `validate` in C (kinds/base.py NativeMatches), when the detector has them.
    native_matches: NativeMatches | None = None


def trigger(expr: bytes, flags: int = 0) -> Pattern:
    """A detector trigger pattern (end offsets only, no SOM)."""
    return Pattern(expr, flags, label="detector trigger")
