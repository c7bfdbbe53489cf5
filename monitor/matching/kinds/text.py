"""text: any other field (a city, an address, a job), folded; it only corroborates a record
found by other fields, compared with each field of the document's row (matcher.py)."""

from __future__ import annotations

from monitor.matching.kinds._common import fold
from monitor.matching.kinds.base import Kind
from monitor.matching.kinds.name import hashed


def normalize_text(value: str, region: str = "FR") -> str | None:
    text = " ".join(fold(value).split())
    return text or None


KIND = Kind(name="text", normalize=normalize_text, domain=b"text", weight=0.1, unique=False,
            hashed=hashed)
