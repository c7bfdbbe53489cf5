"""first_name, last_name: names, folded with separators collapsed; they corroborate a record,
and last name + first name + birth date recognize it together (matcher.py).

Both share the hash domain b"name", so that one hash of a word found in a document is compared
with both columns; the hashed form is letters and digits only ("Jean-Pierre", "JEAN PIERRE"
and "jeanpierre" agree).
"""

from __future__ import annotations

import re

from monitor.matching.kinds._common import fold
from monitor.matching.kinds.base import Kind

_NAME_SEPARATORS = re.compile(r"[\s.\-_'’`,;:/|]+")


def compact_name(folded: str) -> str:
    """Letters and digits only: "jean pierre", "jean-pierre" and "JEANPIERRE" agree.

    `folded` must already be folded (NFKC, case-folded, accents stripped).
    """
    return "".join(c for c in folded if c.isalnum())


def normalize_name(value: str, region: str = "FR") -> str | None:
    """Folded name with separators collapsed: "Jean-Pierre" and "JEAN PIERRE" -> "jean pierre"."""
    text = _NAME_SEPARATORS.sub(" ", fold(value)).strip()
    return text or None


def hashed(normalized: str) -> str | None:
    return compact_name(normalized) or None


DOMAIN = b"name"
FIRST = Kind(name="first_name", normalize=normalize_name, domain=DOMAIN, weight=0.2,
             unique=False, hashed=hashed)
LAST = Kind(name="last_name", normalize=normalize_name, domain=DOMAIN, weight=0.3,
            unique=False, hashed=hashed)
