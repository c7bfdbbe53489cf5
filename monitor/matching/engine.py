"""The matching engine: rules compiled once into one Hyperscan database, one pass per document.

`Engine.build` turns a `RuleSet` into a flat list of Hyperscan patterns, each with a *role*
(which rule or detector or context word it serves). `Engine.scan` runs the database over the
document's bytes once, buckets the raw matches by pattern, and then only looks at the rules
whose patterns actually matched: per-document Python work grows with the number of matches,
not with the number of rules or bytes. Word boundaries, fuzzy scores, detector checksums,
`near`, `exclude` and `min_count` are all decided on those few positions.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from monitor.errors import RuleFileError
from monitor.matching import detectors as det
from monitor.matching import fuzzy
from monitor.matching.normalize import (
    FoldedDoc,
    at_boundaries,
    canon,
    edges_are_words,
    keyword_pattern,
)
from monitor.matching.redact import redact
from monitor.matching.rules import Rule, RuleSet
from monitor.matching.scanner import CASELESS, SOM, Pattern, Scanner, plan_regex
from monitor.models import Hit, RecordMatch

EXCERPT_CHARS = 200
_MARGIN = 48  # extra bytes redacted then dropped, so identifiers cut at the edge are masked


class FingerprintSetLike(Protocol):
    """What the engine needs from a fingerprint set (monitor.matching.fingerprints)."""

    name: str

    def match(self, data: bytes) -> list[RecordMatch]: ...


Span = tuple[int, int, str | None]  # start, end, detector value (None for text matches)

# Roles, one per pattern index (offsets from Hyperscan are in the folded document):
#   ("kw", rule, canon keyword, left, right)   keyword: verified exactly, boundary-checked
#   ("leet", rule, left, right)                leet/separator variant, boundary-checked
#   ("approx", rule, keyword, threshold, left, right)   edit-distance candidate, scored
#   ("rx", rule)                               operator regex, exact in Hyperscan
#   ("rxpy", rule, regex index)                trigger: confirm with Python re
#   ("det", detector name)                     detector trigger (end offsets only)
#   ("word", word index, canon word, left, right)   a near/exclude context word


@dataclass(slots=True)
class _CompiledRule:
    rule: Rule
    pids: list[int] = field(default_factory=list)
    py_regexes: list[re.Pattern[str]] = field(default_factory=list)
    near: tuple[int, ...] = ()
    exclude: tuple[int, ...] = ()


class _ScanState:
    """Per-scan caches: mapped spans, confirmed word positions, detector results."""

    __slots__ = ("_dets", "_fps", "_mapped", "_text", "_words", "by_pid", "data", "doc", "engine")

    def __init__(self, engine: Engine, doc: FoldedDoc, by_pid: dict[int, list[tuple[int, int]]]):
        self.engine, self.doc, self.data, self.by_pid = engine, doc, doc.data, by_pid
        self._mapped: dict[int, list[tuple[int, int]]] = {}
        self._words: dict[int, list[int]] = {}
        self._dets: dict[str, list[Span]] = {}
        self._fps: dict[str, list[RecordMatch]] = {}
        self._text: str | None = None

    def spans(self, pid: int) -> list[tuple[int, int]]:
        """Matches of pattern `pid` as offsets in the original bytes."""
        if pid not in self._mapped:
            self._mapped[pid] = self.doc.spans(self.by_pid.get(pid, []))
        return self._mapped[pid]

    def verified(self, pid: int, expected: str, left: bool, right: bool) -> list[tuple[int, int]]:
        """Keyword matches that fold to exactly `expected` and sit on word boundaries."""
        data = self.data
        return [(s, e) for s, e in self.spans(pid)
                if at_boundaries(data, s, e, left, right)
                and canon(data[s:e].decode("utf-8", "replace")) == expected]

    def word_positions(self, word: int) -> list[int]:
        if word not in self._words:
            pid, expected, left, right = self.engine._word_pids[word]
            self._words[word] = sorted(s for s, _ in self.verified(pid, expected, left, right))
        return self._words[word]

    def detector(self, name: str) -> list[Span]:
        if name not in self._dets:
            ends: list[int] = []
            for pid in self.engine._det_pids.get(name, ()):
                ends.extend(self.doc.end(e) for _, e in self.by_pid.get(pid, ()))
            self._dets[name] = (det.find(det.DETECTORS[name], self.data, ends,
                                         self.engine.phone_region) if ends else [])
        return self._dets[name]

    def fingerprints(self, name: str) -> list[RecordMatch]:
        if name not in self._fps:
            self._fps[name] = list(self.engine.fingerprint_sets[name].match(self.data))
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


class Engine:
    """Compiled rules. Build once with `Engine.build`, then `scan` from any thread."""

    def __init__(self) -> None:
        self.rules: list[Rule] = []
        self.skipped: list[Rule] = []  # fingerprint rules whose set is not available
        self.phone_region = "FR"
        self.fingerprint_sets: dict[str, FingerprintSetLike] = {}
        self._patterns: list[Pattern] = []
        self._roles: list[tuple[Any, ...]] = []
        self._compiled: list[_CompiledRule] = []
        self._det_pids: dict[str, list[int]] = {}
        self._rules_by_detector: dict[str, list[int]] = {}
        self._fingerprint_rules: list[int] = []
        self._word_index: dict[str, int] = {}
        self._word_pids: list[tuple[int, str, bool, bool]] = []
        self._scanner: Scanner | None = None

    # --- building -----------------------------------------------------------------------

    @classmethod
    def build(cls, ruleset: RuleSet | Sequence[Rule], *,
              fingerprint_sets: Mapping[str, FingerprintSetLike] | None = None,
              phone_region: str = "FR", include_disabled: bool = False,
              skip_missing_fingerprints: bool = False) -> Engine:
        """Compile `ruleset` (its loaded rules; problems were reported by `load_rules`).

        A fingerprint rule whose set is not in `fingerprint_sets` is a RuleFileError, or is
        left out (listed in `engine.skipped`) with `skip_missing_fingerprints`.
        Disabled rules are left out unless `include_disabled` (used by `rules test`).
        """
        rules = ruleset.rules if isinstance(ruleset, RuleSet) else list(ruleset)
        eng = cls()
        eng.phone_region = phone_region.upper()
        eng.fingerprint_sets = dict(fingerprint_sets or {})
        for rule in rules:
            if not (rule.enabled or include_disabled):
                continue
            if rule.fingerprints and rule.fingerprints not in eng.fingerprint_sets:
                if skip_missing_fingerprints:
                    eng.skipped.append(rule)
                    continue
                raise RuleFileError(
                    f"{rule.file}:{rule.line}: rule {rule.id}: fingerprint set "
                    f"{rule.fingerprints!r} is not loaded (import it with `leakmon fingerprints "
                    f"import {rule.fingerprints} ...` or pass --fingerprints {rule.fingerprints})")
            eng._add_rule(rule)
        eng._scanner = Scanner(eng._patterns)
        return eng

    def _add(self, pattern: Pattern, role: tuple[Any, ...]) -> int:
        self._patterns.append(pattern)
        self._roles.append(role)
        return len(self._patterns) - 1

    def _word(self, word: str) -> int:
        key = canon(word)
        if key not in self._word_index:
            left, right = edges_are_words(word)
            idx = len(self._word_pids)
            pid = self._add(Pattern(keyword_pattern(word), CASELESS | SOM, label=f"word {word!r}"),
                            ("word", idx))
            self._word_index[key] = idx
            self._word_pids.append((pid, key, left, right))
        return self._word_index[key]

    def _add_rule(self, rule: Rule) -> None:
        ri = len(self._compiled)
        cr = _CompiledRule(rule)
        self._compiled.append(cr)
        self.rules.append(rule)
        where = f"rule {rule.id} ({rule.file}:{rule.line})"
        if rule.fingerprints:
            self._fingerprint_rules.append(ri)
            return
        for kw in rule.keywords:
            left, right = edges_are_words(kw)
            cr.pids.append(self._add(Pattern(keyword_pattern(kw), CASELESS | SOM,
                                             label=f"{where} keyword {kw!r}"),
                                     ("kw", ri, canon(kw), left, right)))
            if rule.fuzzy is None or rule.fuzzy >= 100:
                continue
            leet = fuzzy.leet_pattern(kw)
            if leet is not None:
                cr.pids.append(self._add(Pattern(leet, CASELESS | SOM, label=f"{where} leet {kw!r}"),
                                         ("leet", ri, left, right)))
            dist = fuzzy.edit_distance_for(kw, rule.fuzzy)
            if dist:
                cr.pids.append(self._add(
                    Pattern(fuzzy.approx_pattern(kw), CASELESS | SOM, edit_distance=dist,
                            label=f"{where} fuzzy {kw!r}"),
                    ("approx", ri, kw, rule.fuzzy, left, right)))
        for expr in rule.regex:
            plan = plan_regex(expr, label=f"{where} regex {expr!r}")
            if isinstance(plan, str):
                raise RuleFileError(f"{rule.file}:{rule.line}: rule {rule.id}: bad regex "
                                    f"{expr!r}: {plan}")
            if plan.mode == "hs":
                cr.pids.append(self._add(plan.pattern, ("rx", ri)))
            else:
                assert plan.python is not None
                cr.py_regexes.append(plan.python)
                cr.pids.append(self._add(plan.pattern, ("rxpy", ri, len(cr.py_regexes) - 1)))
        for name in rule.detectors:
            if name not in det.DETECTORS:
                raise RuleFileError(f"{rule.file}:{rule.line}: rule {rule.id}: unknown detector "
                                    f"{name!r}")
            if name not in self._det_pids:
                self._det_pids[name] = [self._add(t, ("det", name))
                                        for t in det.DETECTORS[name].triggers]
            self._rules_by_detector.setdefault(name, []).append(ri)
        cr.near = tuple(sorted({self._word(w) for w in rule.near}))
        cr.exclude = tuple(sorted({self._word(w) for w in rule.exclude}))

    # --- scanning -----------------------------------------------------------------------

    @property
    def pattern_count(self) -> int:
        return len(self._patterns)

    def raw_scan(self, data: bytes) -> int:
        """Only folding and the Hyperscan pass (for benchmarks): the number of raw matches."""
        return len(self._scanner.scan(FoldedDoc(data).folded)) if self._scanner else 0

    def _fingerprint_hits(self, data: bytes) -> list[Hit]:
        if not self._fingerprint_rules:
            return []
        state = _ScanState(self, FoldedDoc(data), {})
        return [h for ri in self._fingerprint_rules
                if (h := self._evaluate(self._compiled[ri], state)) is not None]

    def scan(self, data: bytes) -> list[Hit]:
        """Every rule that fires on `data` (UTF-8 text of one document part), in rule order."""
        if self._scanner is None or not data:
            return self._fingerprint_hits(data)
        doc = FoldedDoc(data)
        raw = self._scanner.scan(doc.folded)
        by_pid: dict[int, list[tuple[int, int]]] = {}
        for pid, s, e in raw:
            bucket = by_pid.get(pid)
            if bucket is None:
                by_pid[pid] = [(s, e)]
            else:
                bucket.append((s, e))
        touched: set[int] = set(self._fingerprint_rules)
        roles = self._roles
        for pid in by_pid:
            role = roles[pid]
            kind = role[0]
            if kind == "det":
                touched.update(self._rules_by_detector[role[1]])
            elif kind != "word":
                touched.add(role[1])
        if not touched:
            return []
        state = _ScanState(self, doc, by_pid)
        hits = []
        for ri in sorted(touched):
            hit = self._evaluate(self._compiled[ri], state)
            if hit is not None:
                hits.append(hit)
        return hits

    def scan_text(self, text: str) -> list[Hit]:
        """`scan` for a Python string (rule tests, interactive use)."""
        return self.scan(text.encode("utf-8"))

    def _evaluate(self, cr: _CompiledRule, state: _ScanState) -> Hit | None:
        rule = cr.rule
        if rule.fingerprints:
            records = state.fingerprints(rule.fingerprints)
            if len(records) < rule.min_records:
                return None
            return Hit(rule_id=rule.id, title=rule.title, severity=rule.severity,
                       count=len(records), tags=rule.tags, fingerprint_set=rule.fingerprints,
                       records=records,
                       excerpt=f"{len(records)} record(s) of fingerprint set "
                               f"{rule.fingerprints!r} recognized")
        spans = self._spans(cr, state)
        if not spans:
            return None
        if any(state.word_positions(w) for w in cr.exclude):
            return None
        if cr.near:
            spans = _near(spans, cr.near, rule.window, state)
            if not spans:
                return None
        kept = _non_overlapping(spans)
        values = {v for _, _, v in kept if v is not None}
        count = len(values) + sum(1 for _, _, v in kept if v is None)
        if count < rule.min_count:
            return None
        first = kept[0]
        return Hit(rule_id=rule.id, title=rule.title, severity=rule.severity, count=count,
                   excerpt=excerpt(state.data, first[0], first[1]), tags=rule.tags)

    def _spans(self, cr: _CompiledRule, state: _ScanState) -> list[Span]:
        data = state.data
        spans: list[Span] = []
        for pid in cr.pids:
            if pid not in state.by_pid:
                continue
            role = self._roles[pid]
            kind = role[0]
            if kind == "kw":
                spans.extend((s, e, None) for s, e in state.verified(pid, role[2], role[3], role[4]))
            elif kind == "leet":
                left, right = role[2], role[3]
                spans.extend((s, e, None) for s, e in state.spans(pid)
                             if at_boundaries(data, s, e, left, right))
            elif kind == "rx":
                spans.extend((s, e, None) for s, e in state.spans(pid))
            elif kind == "rxpy":
                spans.extend(state.python_matches(cr.py_regexes[role[2]]))
            elif kind == "approx":
                _, _, keyword, threshold, left, right = role
                for s, e in state.spans(pid):
                    if at_boundaries(data, s, e, left, right):
                        cand = data[s:e].decode("utf-8", "replace")
                        if fuzzy.score(cand, keyword) >= threshold:
                            spans.append((s, e, None))
        for name in cr.rule.detectors:
            spans.extend(state.detector(name))
        return spans


def _near(spans: list[Span], words: tuple[int, ...], window: int, state: _ScanState) -> list[Span]:
    positions = sorted(p for w in words for p in state.word_positions(w))
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
    for span in sorted(spans, key=lambda x: (x[0], -x[1])):
        if span[0] >= last_end:
            out.append(span)
            last_end = span[1]
    return out


def excerpt(data: bytes, start: int, end: int, width: int = EXCERPT_CHARS) -> str:
    """About `width` characters around data[start:end], redacted, on one line."""
    ctx = max(0, (width - min(end - start, width)) // 2)
    a = max(0, start - ctx - _MARGIN)
    b = min(len(data), end + ctx + _MARGIN)
    while a > 0 and (data[a] & 0xC0) == 0x80:
        a -= 1
    text = redact(data[a:b].decode("utf-8", "replace"))
    if a > 0:
        text = _drop_head(text, _MARGIN)
    if b < len(data):
        text = _drop_tail(text, _MARGIN)
    text = "".join(c if c.isprintable() else " " for c in text)
    text = " ".join(text.split())
    return ("…" if a > 0 else "") + text + ("…" if b < len(data) else "")


def _drop_head(text: str, n: int) -> str:
    cut = text.find(" ", n)
    return text[cut + 1:] if 0 <= cut < n + 24 else text[n:]


def _drop_tail(text: str, n: int) -> str:
    limit = len(text) - n
    cut = text.rfind(" ", max(0, limit - 24), limit)
    return text[:cut] if cut > 0 else text[:max(0, limit)]
