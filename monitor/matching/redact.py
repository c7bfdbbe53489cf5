"""Redaction of excerpts before they are stored or sent.

An excerpt of a leak must not become a second leak: every identifier-shaped thing is masked,
valid or not (over-masking an order number is cheap; a leaked NIR in a Slack channel is not).
Enough is kept for a human to recognise the kind of data: `1 85 03 75 *** *** **`,
`j***@example.fr`, `AKIA************`, `FR76 3000 **** **** **** **** ***`.
Works on short texts (excerpts), so plain Python `re` is fast enough here.
"""

from __future__ import annotations

import re

MASK = "*"

_PEM = re.compile(
    r"(-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----)(.*?)(-----END [A-Z0-9 ]{0,40}"
    r"PRIVATE KEY(?: BLOCK)?-----|\Z)", re.S)
_TOKENS = re.compile(
    r"(?<![A-Za-z0-9_\-])("
    r"(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|ABIA|ACCA)(?=[A-Z2-7]{16})|"
    r"gh[pousr]_|github_pat_|xox[abprs]-|AIza|[sr]k_live_|[sr]k_test_|eyJ"
    r")([A-Za-z0-9_\-./+=]{8,})")
_SECRET_ASSIGN = re.compile(
    r"(?i)((?:secret|password|passwd|pwd|token|api[_-]?key|access[_-]?key)[A-Za-z0-9_\-]{0,20}"
    r"[\"']?\s*[:=]\s*[\"']?)([^\s\"',;]{4,})")
_COMBO = re.compile(
    r"(?m)^([ \t]*(?:[^\s:;|@]{1,64}@[A-Za-z0-9.\-]+\.[A-Za-z]{2,24}|[A-Za-z0-9][A-Za-z0-9._\-]{2,63}))"
    r"([:;|])((?!//)[^\s:;|]{3,128})")
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+\-])([A-Za-z0-9])[A-Za-z0-9._%+\-]*(@[A-Za-z0-9.\-]+\.[A-Za-z]{2,24})")
_IBAN = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2}[0-9]{2}[ ]?[A-Z0-9]{4})((?:[ ]?[A-Z0-9]){7,26})(?![A-Za-z0-9])")
_NIR = re.compile(
    r"(?<![0-9A-Za-z])([1-478][ .\-]?[0-9]{2}[ .\-]?[0-9]{2}[ .\-]?(?:[0-9]{2}|2[ABab]))"
    r"([ .\-]?[0-9]{3}[ .\-]?[0-9]{3}[ .\-]?[0-9]{2})(?![0-9A-Za-z])")
_PHONE_INTL = re.compile(r"((?:\+|(?<![0-9])00)[1-9][0-9]?)([0-9 .\-()]{6,20}[0-9])")
# Any other run of 8+ digits (with separators): cards, phones, account numbers.
_LONG_NUMBER = re.compile(r"(?<![0-9])([0-9]{2})((?:[ .\-]?[0-9]){6,})")
_BASE64_BLOB = re.compile(r"(?<![A-Za-z0-9+/=])([A-Za-z0-9+/]{6})[A-Za-z0-9+/]{34,}={0,2}")


def _mask(text: str, keep: str = " .-()") -> str:
    """Every character except separators replaced by the mask (lengths kept)."""
    return "".join(c if c in keep else MASK for c in text)


def redact(text: str) -> str:
    """`text` with identifiers, secrets and passwords masked. Idempotent."""
    text = _PEM.sub(lambda m: f"{m[1]} [REDACTED] {m[3]}" if m[3] else f"{m[1]} [REDACTED]", text)
    text = _TOKENS.sub(lambda m: m[1] + MASK * min(len(m[2]), 12), text)
    text = _SECRET_ASSIGN.sub(lambda m: m[1] + MASK * 8, text)
    text = _COMBO.sub(lambda m: m[1] + m[2] + MASK * 8, text)
    text = _EMAIL.sub(lambda m: f"{m[1]}***{m[2]}", text)
    text = _IBAN.sub(lambda m: m[1] + _mask(m[2], " "), text)
    text = _NIR.sub(lambda m: m[1] + _mask(m[2]), text)
    text = _PHONE_INTL.sub(lambda m: m[1] + _mask(m[2]), text)
    text = _LONG_NUMBER.sub(lambda m: m[1] + _mask(m[2]), text)
    text = _BASE64_BLOB.sub(lambda m: m[1] + MASK * 12, text)
    return text
