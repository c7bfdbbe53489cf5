"""Patterns compiled on first use: the same answers as `re`, and none compiled at start-up."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys

from monitor.matching.lazy_re import LazyPattern, lazy

TEXT = b"id AKIAABCDEFGHIJKLMNOP, AKIAQRSTUVWXYZ234567 end"
PATTERN = rb"AKIA([A-Z2-7]{16})"


def test_a_lazy_pattern_compiles_on_first_use_and_answers_as_re_does():
    p = lazy(PATTERN)
    assert not p.is_compiled
    real = re.compile(PATTERN)
    assert p.search(TEXT)[1] == real.search(TEXT)[1]
    assert p.is_compiled
    assert p.match(TEXT, 3)[0] == real.match(TEXT, 3)[0]
    assert p.match(TEXT, 3, 10) is None and real.match(TEXT, 3, 10) is None
    assert p.fullmatch(b"AKIA" + b"A" * 16) is not None
    assert [m.span() for m in p.finditer(TEXT, 5)] == [m.span() for m in real.finditer(TEXT, 5)]
    assert lazy(r"(?i)x").search("aX") is not None
    assert lazy("x", re.I).search("aX") is not None


def test_a_lazy_pattern_pickles_uncompiled():
    p = lazy(PATTERN, re.M)
    p.search(TEXT)
    q = pickle.loads(pickle.dumps(p))
    assert isinstance(q, LazyPattern) and not q.is_compiled
    assert (q.pattern, q.flags) == (PATTERN, re.M)


def test_no_detector_pattern_is_compiled_by_loading_the_detectors():
    """Each costs ~0.2-1 ms of every `leakmon scan` start; a scan of chat messages needs few."""
    code = ("from monitor.matching import detectors as d; from monitor.matching.lazy_re import "
            "LazyPattern as L; ps = [x.precise for x in d.DETECTORS.values() if x.precise];"
            "print(len(ps), sum(not isinstance(p, L) for p in ps), sum(p.is_compiled for p in ps "
            "if isinstance(p, L)))")
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    total, eager, compiled = map(int, got)
    assert total > 20 and eager == 0 and compiled == 0
