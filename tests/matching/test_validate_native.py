"""The C precise match and validation of fr_nir, card and combo lines (native/validate.c) against the
Python definitions they replace: the detector's precise pattern and validator.

Generated text mixes the bytes that decide these patterns (separators, field separators,
'@', dots, quotes, control characters, non-ASCII letters, long runs); every region of it must
give the same (start, end, value) list, and `detectors.find` the same findings.
"""

from __future__ import annotations

import dataclasses
import random
from array import array

import pytest
from _idgen import broken, cards, nirs, spaced, spaced_nir

from monitor.matching import detectors
from monitor.matching.detector_base import Detector

DETECTOR_NAMES = ("fr_nir", "combo", "card")


def python_matches(d: Detector, data: bytes, start: int, stop: int) -> list[tuple]:
    """What the Python path computes for a region: every precise match and its value."""
    assert d.precise is not None and d.validate is not None
    return [(m.start(), m.end(), d.validate(m, "FR")) for m in d.precise.finditer(data, start, stop)]


def native_matches(d: Detector, data: bytes, start: int, stop: int, limit: int = 10**9) -> list:
    assert d.native_matches is not None and d.precise is not None and d.validate is not None
    out = []
    for s, e, value in d.native_matches(data, array("q", [start, stop]).tobytes(), limit):
        if value is True:
            m = d.precise.match(data, s, e)
            assert m is not None and m.span() == (s, e)
            value = d.validate(m, "FR")
        out.append((s, e, value))
    return out


_NIRS = nirs(40, seed=5)
_CARDS = cards(30, seed=5)
# cards whole, spaced, dashed, broken, cut short, run on, with a word or digits after
CARD_PIECES = [*_CARDS[:8], *map(spaced, _CARDS[8:14]), *(spaced(v).replace(" ", "-") for v in
               _CARDS[14:18]), *map(broken, _CARDS[18:22]), *(v[:11] for v in _CARDS[22:24]),
               *(v + "4" for v in _CARDS[24:26]), *(spaced(v) + " 12" for v in _CARDS[26:28]),
               "4111 1111 1111 1111", "5555555555554444", "4111-1111-1111-111", "0000000000000",
               # a 12-digit Maestro number with a digit run on: valid once cut at byte 12
               *(m + f" {d}" for m in ("501234567896", "561234567890") for d in "0123456789")]
NIR_PIECES = [*_NIRS, *map(broken, _NIRS[:10]), *map(spaced_nir, _NIRS[10:20]),
              *(spaced_nir(v).replace(" ", ".") for v in _NIRS[20:25]),
              *(v[:3] + "13" + v[5:] for v in _NIRS[25:30]),  # month 13, key right or not
              "5" + _NIRS[30][1:], "2 85 03 2A 123 456", "185-03-75", "2850333"]
PIECES = [
    " ", " ", "\t", "\n", "\n", "\r\n", ":", ";", "|", "@", ".", "-", "_", "//", "'", '"', "<",
    ">", "\x1c", "\x0b", "\x0c", "é", "Ł", "\xa0", "ß", "x" * 70, "9" * 130, "a", "B", "7", "42",
    "john.doe", "jean", "user_01", "http", "HTTPS", "mailto", "example.com", "gmail.com",
    "mail.fr", "x.y", "co.uk", "-bad-.fr", "a..b.fr", "b.f", "b.frr", "pass", "secret99",
    "12345", "123456", "aaaa", "aaab", "P@ss", "0612345678", "2A", "2b", "A", "5", "FR76",
    *NIR_PIECES, *CARD_PIECES,
]


def random_text(rng: random.Random, n: int) -> bytes:
    return "".join(rng.choice(PIECES) for _ in range(n)).encode("utf-8")


def combo_lines(rng: random.Random, n: int) -> bytes:
    """Lines shaped like combo lists, with every part sometimes off by a little."""
    users = ["jean.dupont@example.fr", "JEAN@EXAMPLE.FR", "<a@b.fr", "'x'@y.com", "\x1cz@q.org",
             "a@b", "a@-b.fr", "a@b-.fr", "é@x.fr", "john_doe", "ab", "a" * 64, "a" * 65,
             "http", "FTP", "user.name-01", ".dot@x.fr", "a@" + "b" * 70 + ".fr"]
    pws = ["secret", "ab", "abc", "aaa", "aab", "1234", "12345", "123456", "//x", "/x", "pässword",
           "x" * 128, "x" * 129, "a\x1c", "p@ss:w"]
    lines = []
    for _ in range(n):
        line = (rng.choice(["", " ", "\t ", "  "]) + rng.choice(users) + rng.choice(":;|") +
                rng.choice(pws) + rng.choice(["", " ", "\r", " \r", ":extra", " | x y", " x",
                                              "\r\r", ";"]))
        lines.append(line)
    return "\n".join(lines).encode("utf-8")


@pytest.mark.parametrize("name", DETECTOR_NAMES)
@pytest.mark.parametrize("seed", range(6))
def test_c_matches_are_the_python_matches(name, seed):
    d = detectors.DETECTORS[name]
    rng = random.Random(seed)
    for _ in range(150):
        data = combo_lines(rng, 30) if name == "combo" and rng.random() < 0.5 else \
            random_text(rng, rng.randint(0, 120))
        size = len(data)
        start = rng.randint(0, size)
        stop = rng.randint(start, size)
        for a, b in ((0, size), (start, stop)):
            assert native_matches(d, data, a, b) == python_matches(d, data, a, b), (data, a, b)


@pytest.mark.parametrize("name", DETECTOR_NAMES)
def test_limit_returns_the_first_matches(name):
    d = detectors.DETECTORS[name]
    data = combo_lines(random.Random(3), 200) if name == "combo" else \
        "\n".join(nirs(200, seed=3)).encode()
    everything = native_matches(d, data, 0, len(data))
    assert len(everything) > 50
    assert native_matches(d, data, 0, len(data), limit=7) == everything[:7]


@pytest.mark.parametrize("name", DETECTOR_NAMES)
def test_find_gives_the_same_findings_with_and_without_c(name):
    """Through `find`: the validation cap, `enough` and the extrapolated scale agree too."""
    d = detectors.DETECTORS[name]
    pure = dataclasses.replace(d, native_matches=None)
    rng = random.Random(8)
    for _ in range(40):
        values = (nirs if name == "fr_nir" else cards)(rng.randint(1, 700), seed=rng.randint(0, 99))
        text = combo_lines(rng, rng.randint(1, 800)) if name == "combo" else \
            ("\n".join(f"{i};DUPONT;{spaced(v) if i % 3 == 1 else v}" for i, v in enumerate(values))
             + random_text(rng, 50).decode()).encode()
        # ASCII only too: there C decides every line and `find` takes its loop-free path
        for data in (text, text.decode().encode("ascii", "ignore")):
            ends = sorted(rng.sample(range(1, len(data) + 1), min(len(data), 900)))
            for kw in ({}, {"enough": 3}, {"max_validations": 40},
                       {"enough": 30, "max_validations": 60}):
                a = detectors.find(d, data, ends, **kw)
                b = detectors.find(pure, data, ends, **kw)
                assert (a.found, a.scale) == (b.found, b.scale)


def test_the_c_path_is_the_one_used():
    """The three detectors have their C validation wired (a regression guard for the registry)."""
    assert detectors.DETECTORS["fr_nir"].native_matches is not None
    assert detectors.DETECTORS["combo"].native_matches is not None
    assert detectors.DETECTORS["card"].native_matches is not None
    with pytest.raises(ValueError, match="bad slice"):
        detectors.DETECTORS["combo"].native_matches(b"abc", array("q", [2, 1]).tobytes(), 5)


def python_regions(d: Detector, data: bytes, ends: list[int]) -> list[int]:
    """The regions of find's Python loop, flat."""
    out: list[int] = []
    rs = re_ = -1
    for e in sorted(ends):
        if d.lines:
            s2, e2 = detectors._line_region(data, max(0, e - 1), e)
        else:
            s2, e2 = max(0, e - d.reach), min(len(data), e + d.after)
        if s2 <= re_:
            re_ = max(re_, e2)
            continue
        if re_ >= 0:
            out += [rs, re_]
        rs, re_ = s2, e2
    return out + ([rs, re_] if re_ >= 0 else [])


@pytest.mark.parametrize("name", DETECTOR_NAMES)
def test_c_regions_are_the_python_regions(name):
    d = detectors.DETECTORS[name]
    rng = random.Random(21)
    for _ in range(300):
        lines = rng.choice([b"a\n", b"x" * 700 + b"\n", b"\n", b"y" * 3000, b"z" * 1100 + b"\n"])
        data = b"".join(rng.choice([lines, b"1 85 03", b" ", b"\n\n"]) for _ in range(rng.randint(0, 12)))
        ends = sorted(rng.sample(range(len(data) + 1), min(len(data) + 1, rng.randint(0, 30))))
        got = array("q", detectors._native.regions(data, array("q", ends).tobytes(), d.lines,
                                                   d.reach, d.after)).tolist()
        assert got == python_regions(d, data, ends), (data, ends)
