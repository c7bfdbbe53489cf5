"""The C triggers of the bulk detectors report the same ends as their Hyperscan patterns."""

from __future__ import annotations

import functools
import random

import pytest

from monitor.matching import detectors as det
from monitor.matching.hyperscan_db import Scanner
from monitor.matching.triggers import NativeTriggers

NATIVE = [d for d in det.DETECTORS.values() if d.native]

# Shapes the triggers look for, and near misses, glued together at random.
_PIECES = [
    "1 85 03 75 123 456 78", "185037512345678", "2 85 03 2A 123 456 78", "2.85.03.2b.123.456",
    "1-85-03-75-123-456-78", "4970 1012 3456 7893", "4970-1012-3456-7893", "4970101234567893",
    "5555 5555 5555 4444 000", "FR76 3000 6000 0112 3456 7890 189", "DE89370400440532013000",
    "GB82 WEST 1234 5698 7654 32", "jean.dupont@example.fr:hunter22", "a@b.co;pw|x",
    "user_01:s3cr3tpass", "  bob.smith:passw0rd  \r", "x@y.z:pw", "@mention: hi", "12:30",
    "0612345678", "+33 6 12 34 56 78", "_185037512345678", "A185037512345678", "1850375123456789",
    "ab", "AB12", "FR76", "@", ":", ";", "|", " ", "  ", "\t", "\n", "\r\n", ".", "-", "2", "9",
    "é", "Ünïcode", "xx@dom-ain.travel|p@ss", "login:1234", "root:toor:extra", "2A", "2B",
    # decimals and identifiers: no digit candidate starts there
    "4.4995256729515", "blk_-6952295868487656571", "x-4970101234567893", " -4970101234567893",
    ".4970101234567893", "1.185037512345678", "-185037512345678", "_-", "a.", "9.", "0,",
]


@functools.cache
def _hyperscan(name: str) -> Scanner:
    return Scanner(list(det.DETECTORS[name].triggers))


def _hyperscan_ends(detector, data: bytes) -> list[list[int]]:
    buckets, _ = _hyperscan(detector.name).scan(data)
    return [sorted(e for _, e in buckets.get(i, [])) for i in range(len(detector.triggers))]


def _native_ends(detector, data: bytes) -> list[list[int]]:
    buckets, _ = NativeTriggers(detector.native).scan(data)
    return [sorted(e for _, e in buckets.get(i, [])) for i in range(len(detector.native))]


@pytest.mark.parametrize("detector", NATIVE, ids=lambda d: d.name)
def test_native_triggers_end_where_hyperscan_triggers_end(detector):
    assert len(detector.native) == len(detector.triggers)
    rng = random.Random(detector.name)
    for _ in range(400):
        text = "".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 30)))
        data = text.encode("utf-8")
        assert _native_ends(detector, data) == _hyperscan_ends(detector, data), text


@pytest.mark.parametrize("detector", NATIVE, ids=lambda d: d.name)
def test_native_triggers_on_each_piece_alone(detector):
    for piece in _PIECES:
        for text in (piece, " " + piece + " ", piece + "\n" + piece):
            data = text.encode("utf-8")
            assert _native_ends(detector, data) == _hyperscan_ends(detector, data), text


def test_native_triggers_cap_and_count_the_rest():
    data = b"4970 1012 3456 7893\n" * 10
    from monitor.matching import _native
    from monitor.matching.triggers import CARD

    ends, overflow = _native.triggers(data, 0, len(data), 1 << CARD, 3)
    assert len(ends[CARD]) == 3 * 8
    assert overflow[CARD] == 7


def test_native_triggers_together_equal_each_alone():
    """The loop that looks for several triggers at once (digits, capitals, '@') and the ones
    for a single trigger report the same ends."""
    ids = [i for d in NATIVE for i in d.native]
    rng = random.Random(5)
    for _ in range(300):
        data = "".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 40))).encode()
        together, _ = NativeTriggers(ids).scan(data)
        for pid, tid in enumerate(ids):
            alone, _ = NativeTriggers([tid]).scan(data)
            assert together.get(pid, []) == alone.get(0, []), (tid, data)
        pairs = [(0, 2), (1, 2), (2, 3), (0, 3)]  # iban with digits, iban with '@'
        for a, b in pairs:
            both, _ = NativeTriggers([a, b]).scan(data)
            assert both.get(0, []) == NativeTriggers([a]).scan(data)[0].get(0, [])
            assert both.get(1, []) == NativeTriggers([b]).scan(data)[0].get(0, [])


_WIDTHS = r"""
import json, random, sys
from monitor.matching import detectors as det
from monitor.matching.triggers import NativeTriggers
pieces = json.loads(sys.argv[1])
ids = [i for d in det.DETECTORS.values() for i in d.native]
rng = random.Random(9)
out = []
for _ in range(300):
    data = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 60))).encode()
    found, _ = NativeTriggers(ids).scan(data)
    out.append({str(k): v for k, v in sorted(found.items())})
from monitor.matching import _native
print(json.dumps({"width": _native.trigger_vector_width(), "ends": out}))
"""


def test_native_triggers_same_with_16_and_32_lanes():
    """The vector pre-test is compiled for SSE2 (16 offsets) and AVX2 (32): same ends."""
    import json
    import os
    import subprocess
    import sys

    runs = []
    for off in ("", "1"):
        env = {**os.environ, "LEAKMON_NO_AVX2": off}
        out = subprocess.run([sys.executable, "-c", _WIDTHS, json.dumps(_PIECES)], env=env,
                             check=True, capture_output=True, text=True).stdout
        runs.append(json.loads(out))
    assert runs[1]["width"] in (0, 16)  # forced off
    assert runs[0]["width"] in (32, runs[1]["width"])  # 32 where the CPU has AVX2
    assert runs[0]["ends"] == runs[1]["ends"]
    assert any(runs[0]["ends"])


@pytest.mark.parametrize("data", [
    b"jdoe:secret99", b"jdoe:secret99\n", b"\njdoe:secret99", b"no colon\nnone here\njdoe:secret99",
    b"a:b\nuser01:pw123456\n\n:x\nlast_user:hunter22", b"x" * 70 + b":" + b"\njdoe:secret99\r",
    b"one: two\nuser01:pw123456 \n  tab\tuser:pw123456\nend", b":\n:\n::\nab:cdef\nabc:defg",
])
def test_combo_lines_are_found_from_colon_to_colon(data):
    """The C combo-line trigger only looks at lines holding a ':': the same ends as Hyperscan's
    pattern, which looks at every line (first and last line, lines without ':' between)."""
    combo = det.DETECTORS["combo"]
    assert _native_ends(combo, data) == _hyperscan_ends(combo, data)
