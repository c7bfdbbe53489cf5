"""Rule evaluation on one document: from raw matches to a `Hit` or nothing.

Only the rules whose patterns matched are evaluated (`Engine.scan`); everything per document
is decided here on those few positions: word boundaries and fuzzy scores (the roles),
detector checksums, `near`, `exclude`, `min_count`, and the excerpt of the first match.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from operator import itemgetter
from typing import Protocol

from monitor.matching import detectors as det
from monitor.matching.engine.compile import CompiledRules
from monitor.matching.engine.excerpts import excerpt
from monitor.matching.engine.roles import CompiledRule, DetectorRole, Span
from monitor.matching.normalize import at_boundaries
from monitor.models import Hit, RecordMatch


class FingerprintSetLike(Protocol):
    """What the engine needs from a fingerprint set (monitor.matching.fingerprints)."""

    name: str

    def match(self, data: bytes) -> list[RecordMatch]: ...


class ScanState:
    """Per-scan caches: confirmed word positions, detector findings, fingerprint matches."""

    __slots__ = ("_dets", "_fps", "_text", "_words", "by_pid", "compiled", "data",
                 "fingerprint_sets", "mask_names", "overflow", "phone_region")

    # Context words live in their own database (ContextWords): they are only looked for
    # when a rule with `near` or `exclude` is evaluated, and for `near` only in the windows
    # around that rule's matches. Common words ("free" in every @free.fr address of a dump)
    # would otherwise cost a Python callback each on every document.

    def __init__(self, compiled: CompiledRules, data: bytes,
                 by_pid: Mapping[int, list[tuple[int, int]]], *,
                 fingerprint_sets: Mapping[str, FingerprintSetLike], phone_region: str,
                 overflow: Mapping[int, int] | None = None,
                 bulk: Mapping[str, det.AnyFindings] | None = None,
                 fingerprints: Mapping[str, list[RecordMatch]] | None = None):
        self.compiled, self.data, self.by_pid = compiled, data, by_pid
        self.fingerprint_sets, self.phone_region = fingerprint_sets, phone_region
        self.overflow = overflow or {}
        self._words: dict[int, list[int]] | None = None  # whole-document positions
        self._dets: dict[str, det.AnyFindings] = dict(bulk or {})
        self._fps: dict[str, list[RecordMatch]] = dict(fingerprints or {})
        self._text: str | None = None
        self.mask_names = False  # set when our records are in the document: see Engine.scan

    def word_positions(self, word: int) -> list[int]:
        """Start offsets of context word `word` on word boundaries in the whole document,
        sorted (for `exclude`; scanned once per document, on first use)."""
        if self._words is None:
            self._words = self.words_in([(0, len(self.data))])
        return self._words.get(word, [])

    def words_in(self, ranges: list[tuple[int, int]]) -> dict[int, list[int]]:
        """Word index -> sorted start offsets of context words lying wholly inside one of
        `ranges` (disjoint, sorted), on word boundaries checked against the whole data."""
        words = self.compiled.words
        if words.scanner is None:
            return {}
        data = self.data
        out: dict[int, list[int]] = {}
        for a, b in ranges:
            by_pid, _ = words.scanner.scan(data[a:b] if (a, b) != (0, len(data)) else data)
            for pid, matches in by_pid.items():
                idx = words.word_of_pid[pid]
                word = words.words[idx]
                got = [a + s for s, e in matches
                       if at_boundaries(data, a + s, a + e, word.left, word.right)]
                if got:
                    out.setdefault(idx, []).extend(got)
        for v in out.values():
            v.sort()
        return out

    def detector(self, name: str) -> det.AnyFindings:
        if name not in self._dets:
            ends: list[int] = []
            unseen = 0
            for pid in self.compiled.det_pids.get(name, ()):
                ends.extend(e for _, e in self.by_pid.get(pid, ()))
                unseen += self.overflow.get(pid, 0)
            self._dets[name] = (det.find(det.DETECTORS[name], self.data, ends,
                                         self.phone_region, unseen)
                                if ends else det.Findings([]))
        return self._dets[name]

    def fingerprints(self, name: str) -> list[RecordMatch]:
        if name not in self._fps:
            self._fps[name] = list(self.fingerprint_sets[name].match(self.data))
        return self._fps[name]

    def python_matches(self, rx: re.Pattern[str]) -> list[Span]:
        """A regex Hyperscan cannot run exactly, confirmed on the decoded document (only
        when its trigger fired). Character offsets are turned back into byte offsets."""
        if self._text is None:
            self._text = self.data.decode("utf-8", "replace")
        out: list[Span] = []
        pos_char = pos_byte = 0
        for m in rx.finditer(self._text):
            if m.end() == m.start():
                continue
            pos_byte += len(self._text[pos_char:m.start()].encode("utf-8"))
            pos_char = m.start()
            end_byte = pos_byte + len(m.group(0).encode("utf-8"))
            out.append((pos_byte, end_byte, None))
        return out


def evaluate(cr: CompiledRule, state: ScanState) -> Hit | None:
    """The hit of one rule on the document of `state`, or None when it does not fire."""
    rule = cr.rule
    if rule.fingerprints:
        records = state.fingerprints(rule.fingerprints)
        # A canary is a planted fake record: any sighting of one is critical, whatever
        # the rule's own threshold and severity say.
        canary = any(r.canary for r in records)
        if len(records) < rule.min_records and not canary:
            return None
        return Hit(rule_id=rule.id, title=rule.title,
                   severity="critical" if canary else rule.severity,
                   count=len(records), tags=rule.tags, fingerprint_set=rule.fingerprints,
                   records=records,
                   excerpt=f"{len(records)} record(s) of fingerprint set "
                           f"{rule.fingerprints!r} recognized")
    spans = _text_spans(cr, state)
    names = rule.detectors
    if not spans and len(names) == 1 and not cr.near:
        one = state.detector(names[0])
        if one.disjoint:  # one detector's findings, every value set: counted, no list needed
            first = one.first()
            if first is None or any(state.word_positions(w) for w in cr.exclude):
                return None
            unchecked = sum(state.overflow.get(pid, 0) for pid in cr.pids) if cr.pids else 0
            return _counted(cr, state, one.distinct(), unchecked, max(1.0, one.scale), first)
    det_spans, scale, disjoint = _detector_spans(cr, state)
    disjoint = disjoint and not spans  # one detector's findings alone: nothing to sort out
    spans.extend(det_spans)
    if not spans:
        return None
    if any(state.word_positions(w) for w in cr.exclude):
        return None
    if cr.near:
        spans = _near(spans, cr.near, rule.window, state)
        if not spans:
            return None
    # Detector values: distinct, extrapolated when validation was capped. Text matches
    # past the per-pattern cap were counted, not checked: added as they are.
    unchecked = sum(state.overflow.get(pid, 0) for pid in cr.pids) if cr.pids else 0
    if disjoint:  # one detector's findings: every span has its value (no None), in C sets
        kept = spans
        values = set(map(itemgetter(2), kept))
    else:
        kept = _non_overlapping(spans)
        values = {v for _, _, v in kept if v is not None}
        unchecked += sum(1 for _, _, v in kept if v is None)
    return _counted(cr, state, len(values), unchecked, scale, kept[0])


def _counted(cr: CompiledRule, state: ScanState, distinct: int, unchecked: int, scale: float,
             first: Span) -> Hit | None:
    """The hit of a rule whose matches hold `distinct` values (scaled by `scale`) and
    `unchecked` more, the first of them `first`; None under its min_count."""
    rule = cr.rule
    # The threshold needs that many distinct values really seen: an extrapolated count
    # (one test card repeated 5,000 times) must not make a bulk rule fire.
    if distinct + unchecked < rule.min_count:
        return None
    count = round(distinct * scale) + unchecked
    return Hit(rule_id=rule.id, title=rule.title, severity=rule.severity, count=count,
               excerpt=excerpt(state.data, first[0], first[1], mask_names=state.mask_names),
               tags=rule.tags)


def _text_spans(cr: CompiledRule, state: ScanState) -> list[Span]:
    """Confirmed matches of the rule's keywords, fuzzy variants and regexes."""
    roles = state.compiled.roles
    by_pid = state.by_pid
    spans: list[Span] = []
    for pid in cr.pids:
        matches = by_pid.get(pid)
        if matches is not None:
            role = roles[pid]
            if not isinstance(role, DetectorRole):  # always: cr.pids are text patterns
                spans.extend(role.spans(state, matches))
    return spans


def _detector_spans(cr: CompiledRule, state: ScanState) -> tuple[list[Span], float, bool]:
    """The findings of the rule's detectors, their scale, and whether they are sorted and
    disjoint already (one detector whose findings are)."""
    spans: list[Span] = []
    scale = 1.0
    names = cr.rule.detectors
    disjoint = len(names) == 1
    for name in names:
        findings = state.detector(name)
        spans.extend(findings.found)
        scale = max(scale, findings.scale)
        disjoint = disjoint and findings.disjoint
    return spans, scale, disjoint


def _near(spans: list[Span], words: tuple[int, ...], window: int, state: ScanState) -> list[Span]:
    """Spans with one of `words` starting within `window` bytes. The words are only looked
    for in the windows around the spans (merged), not in the whole document."""
    size = len(state.data)
    reach = window + state.compiled.words.max_len
    ranges: list[tuple[int, int]] = []
    for s, e, _ in sorted(spans):
        a, b = max(0, s - window), min(size, e + reach)
        if ranges and a <= ranges[-1][1]:
            ranges[-1] = (ranges[-1][0], max(ranges[-1][1], b))
        else:
            ranges.append((a, b))
    if sum(b - a for a, b in ranges) * 2 > size:  # mostly covered: one whole pass, cached
        found = {w: state.word_positions(w) for w in words}
    else:
        found = state.words_in(ranges)
    positions = sorted(p for w in words for p in found.get(w, ()))
    if not positions:
        return []
    out = []
    for span in spans:
        s, e = span[0], span[1]
        i = bisect.bisect_left(positions, s - window)
        if i < len(positions) and positions[i] <= e + window:
            out.append(span)
    return out


def _non_overlapping(spans: list[Span]) -> list[Span]:
    """Leftmost-longest spans without overlaps (keyword, leet and fuzzy variants of one
    mention, or Hyperscan's several ends for one regex match, count once)."""
    out: list[Span] = []
    last_end = -1
    # by start, the longest first: two stable sorts on C keys (no Python key call a span)
    for span in sorted(sorted(spans, key=itemgetter(1), reverse=True), key=itemgetter(0)):
        if span[0] >= last_end:
            out.append(span)
            last_end = span[1]
    return out
