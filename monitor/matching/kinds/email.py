"""email: an e-mail address, lower-cased (a UTF-8 local part too, RFC 6531).

The C reader reads the address around each '@' (code 4); a UTF-8 local part is handed back
to Python to be lower-cased exactly as here.
"""

from __future__ import annotations

import re

from monitor.matching.kinds._common import text_of
from monitor.matching.kinds.base import DetectorSpec, Kind
from monitor.matching.lazy_re import lazy

# The local part may hold non-ASCII letters (RFC 6531: "chlipała@..."); domains are ASCII/IDNA.
_EMAIL = re.compile(r"^[\w!#$%&'*+/=?^`{|}~.-]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.[a-z]{2,63}$")


def normalize(value: str, region: str = "FR") -> str | None:
    text = value.strip().strip("<>\"'").lower()
    if text.startswith("mailto:"):
        text = text[7:]
    return text if len(text) <= 254 and _EMAIL.match(text) else None


_PRECISE = (rb"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}@[A-Za-z0-9]"
            rb"(?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*"
            rb"\.[A-Za-z]{2,24}(?![A-Za-z0-9\-])")

KIND = Kind(
    name="email", normalize=normalize, domain=b"email", weight=0.85, unique=True, native=4,
    detector=DetectorSpec(
        "e-mail address",
        (rb"@[A-Za-z0-9\-]+\.[A-Za-z]{2}",),
        lazy(_PRECISE),
        lambda m, r: normalize(text_of(m)),
        reach=140, after=200,
    ),
)
