"""Redaction of excerpts before they are stored or sent.

An excerpt of a leak must not become a second leak: every identifier-shaped thing is masked,
valid or not (over-masking an order number is cheap; a leaked NIR in a Slack channel is not).
Enough is kept for a human to recognise the kind of data: `1 85 03 75 *** *** **`,
`j***@example.fr`, `AKIA************`, `FR76 **** **** **** **** **** ***`. Rows of a dump
(delimited lines, SQL tuples, JSON values) keep only each field's first character, and birth
dates keep only their year, so names and addresses do not travel either.
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
_IBAN = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2}[0-9]{2})((?:[ ]?[A-Z0-9]){11,30})(?![A-Za-z0-9])")
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


_TOKEN_PREFIXES = ("AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA", "ABIA", "ACCA",
                   "gh", "xox", "AIza", "k_live_", "k_test_", "eyJ")
_SECRET_WORDS = ("secret", "passw", "pwd", "token", "key")
_DIGIT_RUN = re.compile(r"[0-9][0-9 .\-()]{5,}[0-9]")


# Rows of a dump (CSV/TSV/pipe lines, SQL tuples, JSON objects) carry names, addresses and
# birth dates that no identifier pattern catches: their fields are masked as a whole.
_QUOTED = re.compile(r"""(["'])(.{1,200}?)\1""")
_KEY_FOLLOWS = re.compile(r"\s*:")
_DATE_DMY = re.compile(r"(?<![0-9])[0-9]{1,2}([/.\-])[0-9]{1,2}\1((?:19|20)[0-9]{2})(?![0-9])")
_DATE_YMD = re.compile(r"(?<![0-9])((?:19|20)[0-9]{2})([/.\-])[0-9]{1,2}\2[0-9]{1,2}(?![0-9])")
_ROW_SEPARATORS = (";", "|", "\t", ",")


def _mask_word(text: str) -> str:
    """Keep the first letter or digit of a value, mask its other letters and digits."""
    out, kept = [], False
    for c in text:
        if c.isalnum():
            out.append(c if not kept else MASK)
            kept = True
        else:
            out.append(c)
    return "".join(out)


def _row_separator(line: str) -> str | None:
    for sep in _ROW_SEPARATORS:
        if line.count(sep) >= (3 if sep == "," else 2):
            return sep
    return None


def _mask_quoted_value(m: re.Match[str]) -> str:
    if _KEY_FOLLOWS.match(m.string, m.end()):  # a JSON key names a column: keep it
        return m[0]
    return m[1] + _mask_word(m[2]) + m[1]


def _redact_rows(text: str) -> str:
    lines = text.split("\n")
    for n, line in enumerate(lines):
        sep = _row_separator(line)
        if sep is None and '":' not in line:
            continue
        line = _QUOTED.sub(_mask_quoted_value, line)
        if sep is not None:
            line = sep.join(_mask_word(field) for field in line.split(sep))
        lines[n] = line
    return "\n".join(lines)


def redact(text: str) -> str:
    """`text` with identifiers, secrets and passwords masked. Idempotent.

    Each family is only looked for when a cheap substring test says it can be there:
    excerpts are redacted once per hit, on the scan path.
    """
    if "PRIVATE KEY" in text:
        text = _PEM.sub(lambda m: f"{m[1]} [REDACTED] {m[3]}" if m[3] else f"{m[1]} [REDACTED]",
                        text)
    if any(p in text for p in _TOKEN_PREFIXES):
        text = _TOKENS.sub(lambda m: m[1] + MASK * min(len(m[2]), 12), text)
    lower = text.lower()
    if any(w in lower for w in _SECRET_WORDS):
        text = _SECRET_ASSIGN.sub(lambda m: m[1] + MASK * 8, text)
    if ":" in text or ";" in text or "|" in text:
        text = _COMBO.sub(lambda m: m[1] + m[2] + MASK * 8, text)
    if "@" in text:
        text = _EMAIL.sub(lambda m: f"{m[1]}***{m[2]}", text)
    if _DIGIT_RUN.search(text):
        text = _IBAN.sub(lambda m: m[1] + _mask(m[2], " "), text)
        text = _NIR.sub(lambda m: m[1] + _mask(m[2]), text)
        text = _PHONE_INTL.sub(lambda m: m[1] + _mask(m[2]), text)
        text = _LONG_NUMBER.sub(lambda m: m[1] + _mask(m[2]), text)
    text = _BASE64_BLOB.sub(lambda m: m[1] + MASK * 12, text)
    text = _DATE_DMY.sub(lambda m: f"**{m[1]}**{m[1]}{m[2]}", text)
    text = _DATE_YMD.sub(lambda m: f"{m[1]}{m[2]}**{m[2]}**", text)
    return _redact_rows(text)
