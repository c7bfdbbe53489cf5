"""What an identifier kind is: one record that every consumer reads (see kinds/__init__.py).

A kind says how a value is normalized and validated, in which hash domain its fingerprint is
kept and in which form, how much one match says about a record, whether it identifies a record
on its own, how a detector finds it in a document and, when the C candidate reader has a
function for it, that function's code. Plain data and functions only: importing a kind pulls
neither Hyperscan nor the C extension, so `identifiers` stays light.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from monitor.matching.lazy_re import LazyPattern

Found = tuple[int, int, str]  # (start, end, normalized value) of a detector match

Normalizer = Callable[[str, str], str | None]  # (value, phone region) -> canonical form
Validator = Callable[[re.Match[bytes], str], str | None]  # (precise match, region) -> value
CustomFinder = Callable[[bytes, int, int, str], list[Found]]  # (data, start, end, region)
CandidateFinder = Callable[[bytes, str], list[tuple[int, str]]]  # (data, region) -> (pos, value)
# (data, spans, limit) -> the first `limit` matches of a detector's precise pattern in the
# spans (int64 (start, stop) pairs, from _native.regions) as (start, end, value): the
# validator's answer (str or None), or True when Python must decide (the match is then redone
# by the precise pattern). See native/validate.c.
NativeMatches = Callable[[bytes, bytes, int], Sequence[tuple[int, int, str | bool | None]]]


@dataclass(frozen=True, slots=True)
class DetectorSpec:
    """The kind's detector, as `detectors.py` builds it into a `Detector`: Hyperscan trigger
    expressions (end offsets only), the precise pattern and validator run around each trigger
    end ([end - reach, end + after]), or a `custom` finder for the region, the C mirrors of
    the triggers (`triggers.py` ids) for the bulk pass, and the precise pattern and validator
    in C (`native_matches`) when they have been written there."""

    description: str
    triggers: tuple[bytes, ...]
    precise: re.Pattern[bytes] | LazyPattern[bytes] | None = None
    validate: Validator | None = None
    reach: int = 32
    after: int = 8
    custom: CustomFinder | None = None
    native: tuple[int, ...] = ()
    native_matches: NativeMatches | None = None


def same(value: str) -> str | None:
    """The normalized value is the hashed form (e-mail, E.164 phone, compact IBAN, ...)."""
    return value


@dataclass(frozen=True, slots=True)
class Kind:
    """One identifier or record-field kind (the `KIND` of `--field COL=KIND`).

    - `normalize(value, region)`: the canonical form, or None when the value is unusable
      (wrong checksum, no '@'); validation is "normalizes to something".
    - `domain`: the HMAC domain, `domain || 0x00 || value`; never change it for an existing
      kind (stored fingerprint sets would stop matching). Kinds may share one on purpose
      (first and last names share b"name").
    - `hashed(normalized)`: the form that is hashed (a NIR without its key, a name compacted).
    - `weight`: how much one matching field says about the record (matcher._confidence).
    - `unique`: identifies a record on its own (else it only corroborates).
    - `detector`: how rules find it in documents (None: a record field only).
    - `native`: the code of the C candidate reader's function for it
      (`_native.STRONG_KIND_NAMES[native] == name`), None when it has none.
    - `find(data, region)`: for a unique kind without C code, its candidates in a document
      as (offset, normalized value), read in Python when a set holds the kind.
    """

    name: str
    normalize: Normalizer
    domain: bytes
    weight: float
    unique: bool
    hashed: Callable[[str], str | None] = same
    detector: DetectorSpec | None = None
    native: int | None = None
    find: CandidateFinder | None = None

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.name):
            raise ValueError(f"kind name {self.name!r}: lower-case letters, digits and _")
        if not self.domain or b"\0" in self.domain:
            raise ValueError(f"kind {self.name!r}: the hash domain must be non-empty, no NUL")
        if not 0.0 < self.weight < 1.0:
            raise ValueError(f"kind {self.name!r}: weight must be in (0, 1)")
        if self.unique and self.native is None and self.find is None:
            raise ValueError(f"kind {self.name!r}: a unique kind needs a C reader code "
                             "(native) or a Python candidate finder (find)")
