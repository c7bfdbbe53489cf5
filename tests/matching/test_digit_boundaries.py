"""No digit candidate starts after a decimal point or inside an identifier.

On public data sets the card, NIR and phone candidates were mostly digits of decimals
("4.4995256729515") or of log identifiers ("blk_-6952295868487656571"). The same rule holds in
the detectors' Python patterns, their Hyperscan and C triggers (test_triggers_native.py keeps
those two in step) and the C fingerprint reader.
"""

from __future__ import annotations

import os
import random

import pytest
from _idgen import cards, nirs

from monitor.matching.engine import Engine
from monitor.matching.fingerprints.candidates import Extractor
from monitor.matching.fingerprints.hashing import Hasher
from monitor.matching.rules import Rule

CARD = cards(1)[0]
NIR = nirs(1)[0]
PHONE = "0612345678"

# (prefix, allowed): what comes right before the digits
CONTEXTS = [
    ("4.", False), ("blk_-", False), ("blk_", False), ("id", False), ("x9-", False),
    ("ref-", False), ("0.", False),
    (" ", True), ("", True), ("n° ", True), ("tel:", True), ("(", True), ("a, ", True),
    (" -", True), ("\n", True), ("Tel.", True), ("42;", True), ("7,", True),
]


def _fires(detector: str, text: str, min_count: int = 1) -> bool:
    rule = Rule(id="d", title="d", detectors=(detector,), min_count=min_count)
    return bool(Engine.build([rule]).scan_text(text))


@pytest.mark.parametrize("detector, value", [("card", CARD), ("fr_nir", NIR), ("phone", PHONE)])
@pytest.mark.parametrize("prefix, allowed", CONTEXTS, ids=[repr(p) for p, _ in CONTEXTS])
def test_detectors_start_only_outside_decimals_and_identifiers(detector, value, prefix, allowed):
    assert _fires(detector, f"{prefix}{value} end") is allowed


@pytest.mark.parametrize("min_count", [1, 20])
def test_decimal_columns_raise_no_card_alarm(min_count):
    """A data set of high-precision decimals: many fractional parts pass Luhn."""
    rng = random.Random(5)
    lines = [f"{rng.uniform(-90, 90):.13f},{rng.uniform(-180, 180):.13f},{rng.random():.15f}"
             for _ in range(4000)]
    assert not _fires("card", "\n".join(lines), min_count)
    ids = [f"blk_-{rng.randrange(10**18, 10**19)} blk_{rng.randrange(10**18, 10**19)}"
           for _ in range(2000)]
    for det in ("card", "fr_nir", "phone"):
        assert not _fires(det, "\n".join(ids), min_count), det


@pytest.mark.parametrize("prefix, allowed", CONTEXTS, ids=[repr(p) for p, _ in CONTEXTS])
def test_fingerprint_reader_same_rule(prefix, allowed):
    hasher = Hasher(os.urandom(32))
    ex = Extractor(hasher, kinds={"phone", "card", "fr_nir"}, dates=False)
    for kind, value, want in (("card", CARD, CARD), ("fr_nir", NIR, NIR[:13]),  # hashed without its key
                              ("phone", PHONE, "+33612345678")):
        cand = ex.extract(f"{prefix}{value} end".encode())
        got = hasher.hash(kind.encode(), want) in set(cand.strong_hashes.tolist())
        assert got is allowed, (kind, prefix)
