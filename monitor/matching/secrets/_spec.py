"""A compact way to declare a token detector: prefix triggers, one precise pattern, a check."""

from __future__ import annotations

import re
from collections.abc import Callable

from monitor.matching.detector_base import Detector, text_of, trigger
from monitor.matching.lazy_re import lazy
from monitor.matching.secrets.placeholders import random_enough

Check = Callable[[str], bool]

# A token's edges: not glued to more token characters.
EDGE_L = rb"(?<![A-Za-z0-9_\-])"
EDGE_R = rb"(?![A-Za-z0-9_\-])"


def token_detector(name: str, description: str, triggers: tuple[bytes, ...], precise: bytes, *,
                   group: int | str = 0, min_bits: float = 3.0, check: Check | None = None,
                   reach: int = 48, after: int = 256, flags: int = 0) -> Detector:
    """A detector whose value is `group` of `precise`, kept when `check` (a checksum or a
    structure test) holds and it is random enough (placeholders.random_enough)."""

    def validate(m: re.Match[bytes], region: str) -> str | None:
        value = text_of(m, group)
        if check is not None and not check(value):
            return None
        return value if random_enough(value, min_bits) else None

    return Detector(name, description, tuple(trigger(t, flags) for t in triggers),
                    lazy(precise), validate, reach=reach, after=after)
