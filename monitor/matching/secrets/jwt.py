"""JSON Web Tokens, signed or not (alg "none": anyone can forge them, and they still leak)."""

from __future__ import annotations

import base64
import binascii
import json
import re

from monitor.matching.detector_base import Detector, text_of, trigger
from monitor.matching.lazy_re import lazy


def _json_part(part: bytes) -> dict | None:
    try:
        value = json.loads(base64.urlsafe_b64decode(part + b"=" * (-len(part) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _validate(m: re.Match[bytes], region: str) -> str | None:
    header = _json_part(m.group("head"))
    if header is None or "alg" not in header or _json_part(m.group("payload")) is None:
        return None
    signed = bool(m.group("sig"))
    if not signed and str(header["alg"]).lower() != "none":
        return None  # a signed token cut after its payload: not a usable token
    return text_of(m)


DETECTORS = (
    Detector(
        "jwt", "JSON Web Token (header with alg, JSON payload; signed, or unsigned alg none)",
        (trigger(rb"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ"),),
        lazy(rb"(?<![A-Za-z0-9_\-])(?P<head>eyJ[A-Za-z0-9_\-]{8,})\."
                   rb"(?P<payload>eyJ[A-Za-z0-9_\-]{8,})\.(?P<sig>[A-Za-z0-9_\-]{16,})?"
                   rb"(?![A-Za-z0-9_\-])"),
        _validate, reach=1024, after=8192,
    ),
)
