"""Keyed hashes of normalized values: the only form in which record values are ever kept.

Each value is hashed as HMAC-SHA-256(key, domain || 0x00 || value) truncated to 8 bytes and read
as a little-endian uint64. The domain separates kinds so that the same digits as a phone and as
a card never collide. First and last names share the domain "name" so that one hash of a word
found in a document can be compared with both. 64 bits keep false matches negligible (a set of
10^6 records gives a chance of ~10^-13 per looked-up value) while the tables stay compact.
"""

from __future__ import annotations

import hashlib
from typing import Final

import numpy as np

from monitor.matching.identifiers import fold

HASH_BYTES: Final = 8

# Domain of each field kind. Names share one domain (see module docstring).
DOMAINS: Final[dict[str, bytes]] = {
    "fr_nir": b"fr_nir",
    "email": b"email",
    "phone": b"phone",
    "iban": b"iban",
    "card": b"card",
    "first_name": b"name",
    "last_name": b"name",
    "date": b"date",
    "text": b"text",
}


class Hasher:
    """HMAC-SHA-256 under one key, with the key pads precomputed (RFC 2104).

    hmac.digest() re-derives the pads on every call; copying two prepared SHA-256 states is
    about twice as fast, which matters on the scan path (millions of candidates). The output is
    identical to hmac.digest(key, msg, "sha256") (checked by the tests).
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def digest(self, message: bytes) -> bytes:
        """The full 32-byte HMAC-SHA-256 of `message`."""
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def hash(self, domain: bytes, value: str) -> int:
        """Truncated keyed hash of a normalized `value` in `domain`; never 0 (0 means absent)."""
        inner = self._inner.copy()
        inner.update(domain + b"\0" + value.encode("utf-8"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return int.from_bytes(outer.digest()[:HASH_BYTES], "little") or 1

    def hash_many(self, messages: list[bytes]) -> np.ndarray:
        """Truncated keyed hashes (uint64, never 0) of `domain || 0x00 || value` messages.

        The scan path hashes every candidate of a document in this one loop: the per-item
        cost is the six C calls of HMAC, with no int conversion or attribute lookups (the
        digests are joined and read by numpy at once). Same values as `hash`.
        """
        if not messages:
            return np.zeros(0, dtype=np.uint64)
        icopy, ocopy = self._inner.copy, self._outer.copy
        digests = []
        append = digests.append
        for message in messages:
            inner = icopy()
            inner.update(message)
            outer = ocopy()
            outer.update(inner.digest())
            append(outer.digest())
        out = np.frombuffer(b"".join(digests), dtype="<u8")[:: 32 // HASH_BYTES].astype(np.uint64)
        out[out == 0] = 1
        return out


def compact_name(folded: str) -> str:
    """Letters and digits only: "jean pierre", "jean-pierre" and "JEANPIERRE" agree.

    `folded` must already be folded (NFKC, case-folded, accents stripped).
    """
    return "".join(c for c in folded if c.isalnum())


def name_key(value: str) -> str:
    """Fold then compact a name or free-text value as it is hashed."""
    return compact_name(fold(value))


def fingerprint_value(kind: str, normalized: str) -> str | None:
    """The form of an already normalized value that is hashed for `kind`.

    - fr_nir: the first 13 characters (without the 2-digit key), so that a dump quoting the
      NIR without its key still matches;
    - names and text: letters and digits only (separators vary between dumps);
    - others: the normalized value as is (E.164 phone, lower-case e-mail, compact IBAN, ISO date).
    """
    if kind == "fr_nir":
        return normalized[:13] if len(normalized) >= 13 else None
    if kind in ("first_name", "last_name", "text"):
        return compact_name(normalized) or None
    return normalized
