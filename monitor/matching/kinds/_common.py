"""Helpers several kinds share: folding, separators, where a digit candidate may start."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

SEPARATORS = re.compile(r"[\s.\-_/]+")


def fold(text: str) -> str:
    """NFKC, case-fold and strip accents: "Société Générale" -> "societe generale"."""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    return "".join(c for c in text if not unicodedata.combining(c))


def compact(value: str) -> str:
    """Separators (spaces . - _ /) removed."""
    return SEPARATORS.sub("", value)


def text_of(m: re.Match[bytes], group: int | str = 0) -> str:
    return m.group(group).decode("utf-8", "replace")


# Where a digit candidate (NIR, card, phone) may start: not inside an identifier ("blk_-69…",
# "id42…"), not after a decimal point ("4.4995256729515" holds no card). DIGITS_START is the
# Python lookbehind, HS_DIGITS_START the same rule as a Hyperscan prefix (the triggers report
# ends only, so a prefix costs nothing), digits_free the same test on an offset; the C
# triggers and fingerprint reader apply it too (native/triggers.c digits_free,
# native/reader.c number_context_ok).
DIGITS_START = rb"(?<![0-9A-Za-z_])(?<![0-9]\.)(?<![0-9A-Za-z_]-)"
HS_DIGITS_START = rb"(?:^|^[.\-]|[^0-9A-Za-z_.\-]|[^0-9]\.|[^0-9A-Za-z_]-)"
_WORD_BYTES = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_DIGIT_BYTES = frozenset(b"0123456789")


def digits_free(data: bytes, p: int) -> bool:
    """May a digit candidate start at data[p]? (DIGITS_START on an offset.)"""
    if p == 0:
        return True
    c = data[p - 1]
    if c in _WORD_BYTES:
        return False
    if p == 1:
        return True
    if c == 0x2E:  # '.'
        return data[p - 2] not in _DIGIT_BYTES
    if c == 0x2D:  # '-'
        return data[p - 2] not in _WORD_BYTES
    return True


_CUT = re.compile(rb"[ .\-]")


def shrinking(m: re.Match[bytes], normalize: Callable[[str, str], str | None], region: str,
              min_len: int) -> str | None:
    """Validate the match, then shorter prefixes cut at separators: greedy patterns may have
    swallowed a following word ("FR76 ... 189 BIC")."""
    raw = m.group(0)
    while True:
        value = normalize(raw.decode("ascii", "replace"), region)
        if value is not None:
            return value
        cuts = [x.start() for x in _CUT.finditer(raw)]
        if not cuts or cuts[-1] < min_len:
            return None
        raw = raw[:cuts[-1]]
