"""Press-style French phones and national numbers of the overseas departments.

"06 12 345 678" is how newspapers and ads write mobiles; "0692 12 34 56" is a Réunion mobile
dialled from France (trunk 0, country code +262). phonenumbers decides validity; the C
fingerprint reader must read them as the import normalizes them.
"""

from __future__ import annotations

import os
import random

import pytest

from monitor.matching import identifiers
from monitor.matching.engine import Engine
from monitor.matching.fingerprints.candidates import Extractor
from monitor.matching.fingerprints.hashing import Hasher
from monitor.matching.rules import Rule

CASES = [  # (text before, number as written, E.164)
    ("appelez le ", "06 12 345 678", "+33612345678"),
    ("tél. ", "01 42 681 234", "+33142681234"),
    ("Réunion : ", "0692 12 34 56", "+262692123456"),
    ("Mayotte ", "0639 40 12 34", "+262639401234"),
    ("Guadeloupe ", "0690 12 34 56", "+590690123456"),
    ("Guyane ", "0694 20 12 34", "+594694201234"),
    ("Martinique ", "0696 12 34 56", "+596696123456"),
    ("fixe ", "0262 12 34 56", "+262262123456"),
]


def _found(text: str) -> int:
    hits = Engine.build([Rule(id="p", title="p", detectors=("phone",))]).scan_text(text)
    return hits[0].count if hits else 0


@pytest.mark.parametrize("before, number, e164", CASES)
def test_detector_reads_them(before, number, e164):
    assert _found(before + number + " svp") == 1
    assert identifiers.normalize("phone", number, region="FR") == e164


def test_metropolitan_numbers_keep_france():
    assert identifiers.normalize("phone", "01 42 68 12 34", region="FR") == "+33142681234"
    assert identifiers.normalize("phone", "0263 12 34 56", region="FR").startswith("+33")
    assert identifiers.normalize("phone", "0692 12 34", region="FR") is None  # too short


@pytest.mark.parametrize("text", ["0692 12 34 5", "00 00 000 000", "4.0692123456", "id_0692123456"])
def test_near_misses_are_not_phones(text):
    assert _found(text) == 0


@pytest.mark.parametrize("before, number, e164", CASES)
def test_fingerprint_reader_agrees_with_import(before, number, e164):
    hasher = Hasher(os.urandom(32))
    cand = Extractor(hasher, kinds={"phone"}, dates=False).extract((before + number).encode())
    assert hasher.hash(b"phone", e164) in set(cand.strong_hashes.tolist())


def test_reader_and_import_agree_on_random_overseas_numbers():
    """Every national number the import accepts is read to the same E.164 by the reader."""
    rng = random.Random(11)
    hasher = Hasher(os.urandom(32))
    ex = Extractor(hasher, kinds={"phone"}, dates=False)
    checked = 0
    for prefix in ("0262", "0263", "0269", "0590", "0594", "0596", "0639", "0690", "0691",
                   "0692", "0693", "0694", "0696", "0697"):
        for _ in range(40):
            number = prefix + "".join(rng.choice("0123456789") for _ in range(6))
            want = identifiers.normalize("phone", number, region="FR")
            if want is None:
                continue
            checked += 1
            text = f"tel {number[:4]} {number[4:6]} {number[6:8]} {number[8:]}"
            got = set(ex.extract(text.encode()).strong_hashes.tolist())
            assert hasher.hash(b"phone", want) in got, (number, want)
    assert checked > 200
