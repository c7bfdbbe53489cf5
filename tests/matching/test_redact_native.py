"""The C field masking of redaction (native/redact.c) against the Python definition it
replaces: each field keeps its first str.isalnum() character, its other ones become '*'.

Generated text mixes what decides the result: field separators, letters and digits of every
script (and Unicode digits, numerics, combining marks that are not alnum), '_', blanks.
"""

from __future__ import annotations

import random

import pytest

from monitor.matching._native import mask_fields
from monitor.matching.redact import MASK, redact

SEPARATORS = ("", ";", "|", "\t", ",")
ALPHABET = ("aZ09_ -.;|,\t\"'@é€ßİı٣²½Ⅻ\u0301\u200b日本\U0001d400\U0001f600"
            + "".join(chr(c) for c in range(0x80, 0x100)))


def python_mask_word(text: str) -> str:
    out, kept = [], False
    for c in text:
        if c.isalnum():
            out.append(c if not kept else MASK)
            kept = True
        else:
            out.append(c)
    return "".join(out)


def python_mask_fields(text: str, sep: str) -> str:
    if not sep:
        return python_mask_word(text)
    return sep.join(python_mask_word(f) for f in text.split(sep))


@pytest.mark.parametrize("sep", SEPARATORS)
def test_mask_fields_matches_python(sep: str) -> None:
    rng = random.Random(f"mask-{sep}")
    for _ in range(3000):
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 40)))
        assert mask_fields(text, sep) == python_mask_fields(text, sep), (text, sep)


def test_every_code_point_classified_as_str_isalnum() -> None:
    text = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)
    masked = mask_fields("x" + text, "")
    assert masked == "x" + "".join(MASK if c.isalnum() else c for c in text)


def test_bad_separator_is_an_error() -> None:
    with pytest.raises(ValueError, match="one character"):
        mask_fields("a;b", ";;")


def test_dump_row_in_redaction_keeps_first_letters() -> None:
    # each field of the row keeps its first character only (the phone number is masked
    # by the long-number rule first, which keeps two digits)
    assert (redact("Jean Pierre;Dupont;12 rue des Lilas;0601020304")
            == "J*** ******;D*****;1* *** *** *****;0*********")
