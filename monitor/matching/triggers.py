"""The bulk detectors' triggers, found by C instead of a Hyperscan database.

The trigger patterns of fr_nir, card, iban and combo are bounded repeats over digit and letter
classes: Hyperscan runs them at ~250 MB/s on dumps and chat, and the bulk detectors (rules with
min_count, see engine/bulk.py) scan for them over whole documents. `_native.triggers` reports the
same end offsets in one byte loop. A detector lists its Hyperscan patterns in
`Detector.triggers` (used in the main database) and, when it has them, the C mirror of each in
`Detector.native` (used for bulk scanning); tests/matching/test_triggers_native.py checks that
the two report the same ends.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.matching import _native

# Trigger ids of _native.triggers, in the order of its result lists.
NIR, CARD, IBAN, COMBO_AT, COMBO_LINE = range(5)


class NativeTriggers:
    """A set of C triggers with the `scan` interface of `hyperscan_db.Scanner`: pattern index i is
    trigger `ids[i]`; matches come back as (0, end), since triggers carry no start offset."""

    def __init__(self, ids: Sequence[int]) -> None:
        # late: the trigger ids above are read by the identifier kinds, which must not pull
        # Hyperscan in (see kinds/base.py)
        from monitor.matching.hyperscan_db import MAX_MATCHES_PER_PATTERN

        self._cap = MAX_MATCHES_PER_PATTERN
        self.ids = list(ids)
        self._wanted = 0
        for i in self.ids:
            self._wanted |= 1 << i

    def scan(self, data: bytes) -> tuple[dict[int, list[tuple[int, int]]], dict[int, int]]:
        ends, over = self.ends(data)
        return {pid: [(0, e) for e in lst] for pid, lst in ends.items()}, over

    def ends(self, data: bytes) -> tuple[dict[int, list[int]], dict[int, int]]:
        """`scan` without the (start, end) pairs: pattern index -> end offsets (the bulk
        detectors only read the ends: one tuple less per candidate)."""
        if not data or not self._wanted:
            return {}, {}
        ends, overflow = _native.triggers(data, 0, len(data), self._wanted,
                                          self._cap)
        out: dict[int, list[int]] = {}
        over: dict[int, int] = {}
        for pid, tid in enumerate(self.ids):
            if ends[tid]:
                # int64 ends; a memoryview cast, not numpy: this module is imported at every
                # start, numpy (~50 ms of it) only where a fingerprint set needs it
                out[pid] = memoryview(ends[tid]).cast("q").tolist()
            if overflow[tid]:
                over[pid] = overflow[tid]
        return out, over
