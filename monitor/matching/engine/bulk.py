"""Bulk detectors: passes of their own over the document, chunk by chunk, with early stop.

A bulk detector (compile.py: every rule using it only counts, min_count >= 2 and no `near`)
has triggers that match everywhere in dumps (digit runs for NIR, IBAN and cards, combo lines):
in the main database each candidate would cost a Python callback. Here the triggers of a
scan group run in one pass of their own (their C mirrors, triggers.py, when all have one,
else a Hyperscan database), and a detector leaves the scan once its rules are proven.
A small document (at most BULK_CHUNK bytes) of the C-triggered group takes one C call for
triggers, regions and validation (NativePlan, _native.bulk_find).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from monitor.matching import _native
from monitor.matching import detectors as det
from monitor.matching.hyperscan_db import MAX_MATCHES_PER_PATTERN, Pattern, Scanner
from monitor.matching.triggers import NativeTriggers

# Documents up to BULK_CHUNK bytes are validated exactly; larger ones are scanned in chunks
# cut after a newline (no trigger spans one), the first BULK_CHUNK bytes, then twice as much
# each time up to BULK_CHUNK_MAX.
BULK_CHUNK = 64 * 1024
BULK_CHUNK_MAX = 1024 * 1024


@dataclass(slots=True, frozen=True)
class TriggerPass:
    """One pass over the triggers of some bulk detectors: pattern index -> detector name."""

    scanner: Scanner | NativeTriggers
    owner: list[str]

    def ends(self, data: bytes, offset: int = 0) -> tuple[dict[str, list[int]], dict[str, int]]:
        """Per detector: the end offsets of its triggers in `data` (shifted by `offset`),
        and the matches past the per-pattern cap that were only counted."""
        ends: dict[str, list[int]] = {}
        unseen: dict[str, int] = {}
        if isinstance(self.scanner, NativeTriggers):  # ends only, no (start, end) pairs
            by_pid, overflow = self.scanner.ends(data)
        else:
            buckets, overflow = self.scanner.scan(data)
            by_pid = {pid: [e for _, e in lst] for pid, lst in buckets.items()}
        for pid, lst in by_pid.items():
            name = self.owner[pid]
            if offset:
                lst = [offset + e for e in lst]
            got = ends.get(name)
            if got is None:
                ends[name] = lst
            else:
                got.extend(lst)
            unseen[name] = unseen.get(name, 0) + overflow.get(pid, 0)
        return ends, unseen


# The C validators _native.bulk_find runs itself (its `matcher` codes); any other detector of
# a C-triggered group is handed back to detectors.find with its trigger ends.
_MATCHERS: dict[object, int] = {_native.nir_matches: 0, _native.combo_matches: 1, _native.card_matches: 2}


@dataclass(slots=True, frozen=True)
class NativePlan:
    """A group of C-triggered detectors on a small document: triggers, regions and the C
    validation in one `_native.bulk_find` call, no Python object for a document without
    triggers, no trigger-end list for a detector validated in C."""

    names: tuple[str, ...]
    specs: tuple[tuple[int, int, bool, int, int], ...]  # (trigger mask, matcher, lines, reach, after)

    @classmethod
    def of(cls, names: tuple[str, ...]) -> NativePlan:
        specs = []
        for name in names:
            d = det.DETECTORS[name]
            mask = 0
            for tid in d.native:
                mask |= 1 << tid
            matcher = _MATCHERS.get(d.native_matches, -1) if d.custom is None else -1
            specs.append((mask, matcher, d.lines, d.reach, d.after))
        return cls(names, tuple(specs))

    def findings(self, data: bytes, region: str) -> dict[str, det.AnyFindings]:
        """What detectors.find gives for each detector over the whole of `data` (no `enough`,
        MAX_VALIDATIONS validations), for those whose triggers matched. A detector validated
        in C is only counted (its first finding and distinct values, CountedFindings): its
        whole list is built again by `_native.bulk_find` if a rule reads it."""
        limit = max(1, det.MAX_VALIDATIONS)
        cap = MAX_MATCHES_PER_PATTERN
        got = _native.bulk_summary(data, cap, limit, self.specs)
        if got is None:
            return {}
        out: dict[str, det.AnyFindings] = {}
        for name, spec, one in zip(self.names, self.specs, got, strict=True):
            if one is None:
                continue
            if len(one) == 3:  # validated in C: (first, distinct, scale)
                first, values, scale = one
                out[name] = det.CountedFindings(first, values, scale,
                                                _whole(data, cap, limit, spec))
            else:  # (sorted trigger ends, uncounted triggers): Python validates
                out[name] = det.find(det.DETECTORS[name], data, one[0], region, one[1],
                                     max_validations=limit)
        return out


def _whole(data: bytes, cap: int, limit: int,
           spec: tuple[int, int, bool, int, int]) -> Callable[[], list[det.Found]]:
    """The whole list of C-validated findings that bulk_summary counted: bulk_find on the
    detector's spec alone (its triggers do not depend on the other detectors')."""
    def whole() -> list[det.Found]:
        got = _native.bulk_find(data, cap, limit, (spec,))
        assert got is not None and got[0] is not None
        return got[0][0]  # type: ignore[return-value]
    return whole


class BulkDetectors:
    """The bulk detectors of one engine and their passes (made once, shared by threads)."""

    def __init__(self, need: dict[str, int], phone_region: str) -> None:
        self.need = need  # name -> distinct valid values that prove every rule using it
        self.phone_region = phone_region
        groups: dict[str, list[str]] = {}
        for name in sorted(need):
            d = det.DETECTORS[name]
            # "(native)" is no detector name: the C-triggered ones share one pass
            groups.setdefault("(native)" if d.native else d.scan_group or name, []).append(name)
        self.groups = [tuple(g) for g in groups.values()]
        self._plans = {tuple(g): NativePlan.of(tuple(g)) for key, g in groups.items()
                       if key == "(native)"}
        self._passes: dict[frozenset[str], TriggerPass] = {}
        self._lock = threading.Lock()
        for g in self.groups:  # every subset: a group shrinks as detectors stop
            for mask in range(1, 2 ** len(g)):
                self.trigger_pass(frozenset(n for i, n in enumerate(g) if mask >> i & 1))

    @property
    def pattern_count(self) -> int:
        """Trigger patterns of the bulk detectors, each counted once."""
        return sum(len(det.DETECTORS[n].triggers) for n in self.need)

    def trigger_pass(self, names: frozenset[str]) -> TriggerPass:
        """The pass over the triggers of `names`: their C mirrors when they all have one,
        else a Hyperscan database."""
        got = self._passes.get(names)
        if got is None:
            with self._lock:
                got = self._passes.get(names)
                if got is None:
                    got = self._passes[names] = _make_pass(names)
        return got

    def raw_count(self, data: bytes) -> int:
        """Raw trigger matches over the whole document (benchmarks: no early stop)."""
        n = 0
        for group in self.groups if data else ():
            buckets, overflow = self.trigger_pass(frozenset(group)).scanner.scan(data)
            n += sum(map(len, buckets.values())) + sum(overflow.values())
        return n

    def findings(self, data: bytes) -> dict[str, det.AnyFindings]:
        """Findings of the bulk detectors, one pass per scan group: the C triggers of the
        shipped bulk detectors share one (`Detector.native`, triggers.py); a detector without
        them gets a Hyperscan database of its own (`Detector.scan_group`).

        A document of at most BULK_CHUNK bytes is scanned and validated whole, exactly as
        the other detectors. A larger one is scanned in chunks; a detector leaves the scan
        once it has `need` distinct valid values (its rules are proven) or has spent
        MAX_VALIDATIONS validations. Its count is then an estimate: what was found,
        extrapolated first over the trigger matches of the chunk it stopped in, then by
        bytes over the rest of the document. The excerpt is unaffected (chunks go in
        document order, so the first valid value is always found).
        """
        if len(self.groups) == 1:  # the shipped bulk detectors: one group (one C call)
            return self._group(self.groups[0], data)
        out: dict[str, det.AnyFindings] = {}
        for group in self.groups:
            out.update(self._group(group, data))
        return out

    def _group(self, group: tuple[str, ...], data: bytes) -> dict[str, det.AnyFindings]:
        region = self.phone_region
        size = len(data)
        if size <= BULK_CHUNK:
            plan = self._plans.get(group)
            if plan is not None:
                return plan.findings(data, region)
            ends, unseen = self.trigger_pass(frozenset(group)).ends(data)
            return {name: det.find(det.DETECTORS[name], data, e, region, unseen[name])
                    for name, e in ends.items()}
        need = self.need
        have: dict[str, dict[int, det.Found]] = {n: {} for n in group}
        # distinct values: a threshold is proven by that many different values, not places
        # (the main-database path counts them so too, and must give the same answer)
        seen: dict[str, set[str]] = {n: set() for n in group}
        estimate = dict.fromkeys(group, 0.0)
        budget = dict.fromkeys(group, det.MAX_VALIDATIONS)
        closed_at: dict[str, int] = {}
        open_ = set(group)
        pos, chunk = 0, BULK_CHUNK
        while pos < size and open_:
            stop = pos + chunk
            if stop >= size:
                stop = size
            else:
                nl = data.find(b"\n", stop)
                stop = size if nl < 0 else nl + 1
            ends, unseen = self.trigger_pass(frozenset(open_)).ends(data[pos:stop], pos)
            for name, e in ends.items():
                got = have[name]
                vals = seen[name]
                f = det.find(det.DETECTORS[name], data, e, region, unseen[name],
                             enough=need[name] - len(vals), max_validations=budget[name])
                new = [x for x in f.found if x[0] not in got]
                got.update((x[0], x) for x in new)
                vals.update(x[2] for x in new)
                estimate[name] += len(new) * f.scale
                # Validations spent: every candidate when the chunk was done, else a share.
                budget[name] -= max(1, round((len(e) + unseen[name]) / f.scale))
                if len(vals) >= need[name] or budget[name] <= 0 or f.scale > 1.0:
                    open_.discard(name)
                    closed_at[name] = stop
            pos, chunk = stop, min(chunk * 2, BULK_CHUNK_MAX)
        out: dict[str, det.AnyFindings] = {}
        for name, got in have.items():
            if not got:
                continue
            est = estimate[name]
            if closed_at.get(name, size) < size:
                est *= size / closed_at[name]
            out[name] = det.Findings([got[k] for k in sorted(got)], max(1.0, est / len(got)))
        return out


def _make_pass(names: frozenset[str]) -> TriggerPass:
    detectors = [det.DETECTORS[name] for name in sorted(names)]
    owner: list[str] = []
    if all(d.native for d in detectors):
        ids: list[int] = []
        for d in detectors:
            ids.extend(d.native)
            owner.extend([d.name] * len(d.native))
        return TriggerPass(NativeTriggers(ids), owner)
    pats: list[Pattern] = []
    for d in detectors:
        pats.extend(d.triggers)
        owner.extend([d.name] * len(d.triggers))
    return TriggerPass(Scanner(pats), owner)
