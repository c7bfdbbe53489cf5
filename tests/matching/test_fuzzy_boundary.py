"""Fuzzy matches are boundary-checked on the word that matched, not on Hyperscan's start.

Approximate matching reports the leftmost start within the edit distance: for a variant
after a word and a space that start lies on the space, glued to the word before.
"""

from __future__ import annotations

import pytest

from monitor.matching.engine import Engine
from monitor.matching.rules import Rule

DEDALUS = Rule(id="org", title="org", keywords=("Dedalus",), fuzzy=85)
MULTI = Rule(id="org2", title="org", keywords=("Dedalus Biologie",), fuzzy=85)


def _count(rule: Rule, text: str) -> int:
    hits = Engine.build([rule]).scan_text(text)
    return hits[0].count if hits else 0


@pytest.mark.parametrize("text", [
    "le labo Daedalus a fuité",      # one insertion after a word and a space
    "le labo Dedals a fuité",        # one deletion
    "le labo Dadalus a fuité",       # one substitution
    "le labo Dedalsu a fuité",       # a transposition (two edits)
    "base de Ddalus, 500k lignes",
    "fuite: Deedalus.",
    "chez Dédalus",                  # accented
])
def test_variant_after_any_word_is_found(text):
    assert _count(DEDALUS, text) == 1


@pytest.mark.parametrize("text", [
    "le labo medalist a fuité", "dedicated servers", "vandalism", "the dallas team",
    "le labo Daedalusienne",         # the word that matched is longer: scored whole, too far
])
def test_unrelated_words_stay_out(text):
    assert _count(DEDALUS, text) == 0


def test_multi_word_variant_after_a_word():
    assert _count(MULTI, "vente Daedalus Biologie dump") == 1
    assert _count(MULTI, "vente Dedalus Biolgie dump") == 1
