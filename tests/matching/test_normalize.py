"""Keyword folding and Hyperscan literals (normalize.py), against their plain definitions."""

from __future__ import annotations

import random
import re
import unicodedata

from monitor.matching import normalize


def _fold_reference(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(normalize._SPECIAL_FOLDS.get(c, c) for c in text)
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c))


def test_fold_is_nfkc_casefold_special_folds_then_accents_dropped():
    assert normalize.fold("Cœur Société ÆSIR Straße") == "coeur societe aesir strasse"
    assert normalize.fold("ＤＥＤＡＬＵＳ ﬁle") == "dedalus file"
    rng = random.Random(3)
    alphabet = list("aZ9 '’-_.éÉèœŒæßıłøﬁ＊ｆ\u0301\u00a0\t😀ǅİK")
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))
        assert normalize.fold(text) == _fold_reference(text), text


def test_hs_escape_keeps_only_ascii_alphanumerics():
    for b in range(256):
        want = bytes([b]) if re.fullmatch(rb"[0-9A-Za-z]", bytes([b])) else b"\\x%02x" % b
        assert normalize.hs_escape(bytes([b])) == want
    assert normalize.literal_pattern("l’é a") == (
        normalize.hs_escape(b"l") + normalize._APOSTROPHE + normalize.hs_escape("é".encode())
        + normalize._WHITESPACE + b"a")
