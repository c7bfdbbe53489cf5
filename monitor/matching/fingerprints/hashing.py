"""Keyed hashes of normalized values: the only form in which record values are ever kept.

Each value is hashed as HMAC-SHA-256(key, domain || 0x00 || value) truncated to 8 bytes and read
as a little-endian uint64. The domain separates kinds so that the same digits as a phone and as
a card never collide. First and last names share the domain "name" so that one hash of a word
found in a document can be compared with both. 64 bits keep false matches negligible (a set of
10^6 records gives a chance of ~10^-13 per looked-up value) while the tables stay compact.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Final

import numpy as np

from monitor.matching import _native, kinds
from monitor.matching.kinds._common import fold
from monitor.matching.kinds.name import compact_name

__all__ = ["DOMAINS", "HASH_BYTES", "Hasher", "compact_name", "fingerprint_value", "name_key"]

HASH_BYTES: Final = 8


# Domain of each field kind (kinds registry). Names share one domain (see module docstring).
DOMAINS: Final[Mapping[str, bytes]] = kinds.Column(lambda k: k.domain)


class Hasher:
    """Truncated HMAC-SHA-256 under one key.

    The hashing runs in C (`_native.Hmac`: key pads precomputed, the CPU's SHA instructions when
    it has them): the import hashes millions of values and the scan path tens of thousands per
    MB of a dump. The output is identical to hmac.digest(key, msg, "sha256") truncated to 8
    bytes, little-endian (checked by the tests on both C code paths).
    """

    __slots__ = ("_hmac", "_key")

    def __init__(self, key: bytes) -> None:
        self._key = bytes(key)
        self._hmac = _native.Hmac(self._key)

    @property
    def native(self) -> _native.Hmac:
        """The C hasher, for the candidate reader (same key)."""
        return self._hmac

    def digest(self, message: bytes) -> bytes:
        """The full 32-byte HMAC-SHA-256 of `message` (not on any hot path)."""
        return hmac.digest(self._key, message, "sha256")

    def hash(self, domain: bytes, value: str) -> int:
        """Truncated keyed hash of a normalized `value` in `domain`; never 0 (0 means absent)."""
        return self._hmac.hash(domain + b"\0" + value.encode("utf-8"))

    def hash_many(self, messages: list[bytes]) -> np.ndarray:
        """Truncated keyed hashes (uint64, never 0) of `domain || 0x00 || value` messages, in
        one C call. Same values as `hash`."""
        if not messages:
            return np.zeros(0, dtype=np.uint64)
        return np.frombuffer(self._hmac.hash_many(messages), dtype=np.uint64)


def name_key(value: str) -> str:
    """Fold then compact a name or free-text value as it is hashed."""
    return compact_name(fold(value))


def fingerprint_value(kind: str, normalized: str) -> str | None:
    """The form of an already normalized value that is hashed for `kind` (its `Kind.hashed`):

    - fr_nir: the first 13 characters (without the 2-digit key), so that a dump quoting the
      NIR without its key still matches;
    - names and text: letters and digits only (separators vary between dumps);
    - others: the normalized value as is (E.164 phone, lower-case e-mail, compact IBAN, ISO date).
    """
    return kinds.get(kind).hashed(normalized)
