"""Validation and normalization of identifiers and record fields, for every kind.

Detectors call `is_valid` to decide whether a candidate counts; fingerprints call `normalize`
before hashing, on the imported CSV and on text found in documents, so that both sides of a
comparison agree. Each kind's rules live in its module under `kinds/` (checksums from
python-stdnum and phonenumbers, not hand-written code); this module is their front door.
"""

from __future__ import annotations

from monitor.matching import kinds
from monitor.matching.kinds._common import fold
from monitor.matching.kinds.date import MONTHS, normalize_date
from monitor.matching.kinds.name import normalize_name
from monitor.matching.kinds.phone import NATIONAL_PEERS, PEER_PREFIXES
from monitor.matching.kinds.text import normalize_text

# and KINDS, UNIQUE_KINDS (module __getattr__ below)
__all__ = [
    "MONTHS", "NATIONAL_PEERS", "PEER_PREFIXES", "fold", "is_valid", "normalize",
    "normalize_date", "normalize_name", "normalize_text",
]


def __getattr__(name: str) -> tuple[str, ...] | frozenset[str]:
    """KINDS (every kind, in order) and UNIQUE_KINDS (those that identify a record on their
    own), read from the registry when asked, so that a kind registered later is in them."""
    if name == "KINDS":
        return kinds.names()
    if name == "UNIQUE_KINDS":
        return kinds.unique_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def normalize(kind: str, value: str, *, region: str = "FR") -> str | None:
    """The canonical form of `value` as a `kind`, or None when it is not a usable value."""
    if value is None:
        return None
    value = str(value)
    if not value.strip():
        return None
    return kinds.get(kind).normalize(value, region)


def is_valid(kind: str, value: str, *, region: str = "FR") -> bool:
    """True when `value` is a well-formed `kind` whose checksums (if any) are right."""
    return normalize(kind, value, region=region) is not None
