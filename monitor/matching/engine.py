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
from monitor.matching.normalize import at_boundaries, canon, edges_are_words, keyword_patterns
from monitor.matching.redact import redact
from monitor.matching.rules import Rule, RuleSet
from monitor.matching.scanner import CASELESS, SOM, Pattern, Scanner, plan_regex
from monitor.models import Hit, RecordMatch

EXCERPT_CHARS = 200
_BLANKS = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]+")
_MARGIN = 48  # extra bytes redacted then dropped, so identifiers cut at the edge are masked


class FingerprintSetLike(Protocol):
    """What the engine needs from a fingerprint set (monitor.matching.fingerprints)."""

    name: str

    def match(self, data: bytes) -> list[RecordMatch]: ...


Span = tuple[int, int, str | None]  # start, end, detector value (None for text matches)

# Roles, one per pattern index:
#   ("kw", rule, left, right)                  keyword variant or leet form, boundary-checked
#   ("approx", rule, keyword, threshold, left, right)   edit-distance candidate, scored
#   ("rx", rule)                               operator regex, exact in Hyperscan
#   ("rxpy", rule, regex index)                trigger: confirm with Python re
#   ("det", detector name)                     detector trigger (end offsets only)
#   ("word", word index)                       a near/exclude context word


@dataclass(slots=True)
class _CompiledRule:
    rule: Rule
    pids: list[int] = field(default_factory=list)
    py_regexes: list[re.Pattern[str]] = field(default_factory=list)
    near: tuple[int, ...] = ()
    exclude: tuple[int, ...] = ()


class _ScanState:
    """Per-scan caches: confirmed word positions, detector findings, fingerprint matches."""

    __slots__ = ("_dets", "_fps", "_text", "_words", "by_pid", "data", "engine", "overflow")

    def __init__(self, engine: Engine, data: bytes, by_pid: dict[int, list[tuple[int, int]]],
                 overflow: dict[int, int] | None = None):
        self.engine, self.data, self.by_pid = engine, data, by_pid
        self.overflow = overflow or {}
        self._words: dict[int, list[int]] = {}
        self._dets: dict[str, det.Findings] = {}
        self._fps: dict[str, list[RecordMatch]] = {}
        self._text: str | None = None

    def word_positions(self, word: int) -> list[int]:
        """Start offsets of context word `word` on word boundaries, sorted."""
        if word not in self._words:
            pids, left, right = self.engine._word_pids[word]
            data = self.data
            self._words[word] = sorted(
                s for pid in pids for s, e in self.by_pid.get(pid, ())
                if at_boundaries(data, s, e, left, right))
        return self._words[word]

    def detector(self, name: str) -> det.Findings:
        if name not in self._dets:
            ends: list[int] = []
            unseen = 0
            for pid in self.engine._det_pids.get(name, ()):
                ends.extend(e for _, e in self.by_pid.get(pid, ()))
                unseen += self.overflow.get(pid, 0)
            self._dets[name] = (det.find(det.DETECTORS[name], self.data, ends,
                                         self.engine.phone_region, unseen)
                                if ends else det.Findings([]))
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
        self._word_pids: list[tuple[list[int], bool, bool]] = []
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
            pids = [self._add(Pattern(expr, CASELESS | SOM, label=f"word {word!r}"), ("word", idx))
                    for expr in keyword_patterns(word)]
            self._word_index[key] = idx
            self._word_pids.append((pids, left, right))
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
            for expr in keyword_patterns(kw):
                cr.pids.append(self._add(Pattern(expr, CASELESS | SOM,
                                                 label=f"{where} keyword {kw!r}"),
                                         ("kw", ri, left, right)))
            if rule.fuzzy is None or rule.fuzzy >= 100:
                continue
            for leet in fuzzy.leet_patterns(kw):
                cr.pids.append(self._add(Pattern(leet, CASELESS | SOM, label=f"{where} leet {kw!r}"),
                                         ("kw", ri, left, right)))
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
        """Only the Hyperscan pass (for benchmarks): the number of raw matches."""
        if self._scanner is None:
            return 0
        buckets, overflow = self._scanner.scan(data)
        return sum(map(len, buckets.values())) + sum(overflow.values())

    def _fingerprint_hits(self, data: bytes) -> list[Hit]:
        if not self._fingerprint_rules:
            return []
        state = _ScanState(self, data, {})
        return [h for ri in self._fingerprint_rules
                if (h := self._evaluate(self._compiled[ri], state)) is not None]

    def scan(self, data: bytes) -> list[Hit]:
        """Every rule that fires on `data` (UTF-8 text of one document part), in rule order."""
        if self._scanner is None or not data:
            return self._fingerprint_hits(data)
        by_pid, overflow = self._scanner.scan(data)
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
        state = _ScanState(self, data, by_pid, overflow)
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
        spans = self._spans(cr, state)
        det_spans, scale = self._detector_spans(cr, state)
        spans.extend(det_spans)
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
        # Detector values: distinct, extrapolated when validation was capped. Text matches
        # past the per-pattern cap were counted, not checked: added as they are.
        count = (round(len(values) * scale) + sum(1 for _, _, v in kept if v is None)
                 + sum(state.overflow.get(pid, 0) for pid in cr.pids))
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
                left, right = role[2], role[3]
                spans.extend((s, e, None) for s, e in state.by_pid[pid]
                             if at_boundaries(data, s, e, left, right))
            elif kind == "rx":
                spans.extend((s, e, None) for s, e in state.by_pid[pid])
            elif kind == "rxpy":
                spans.extend(state.python_matches(cr.py_regexes[role[2]]))
            elif kind == "approx":
                _, _, keyword, threshold, left, right = role
                for s, e in state.by_pid[pid]:
                    if at_boundaries(data, s, e, left, right):
                        cand = data[s:e].decode("utf-8", "replace")
                        if fuzzy.score(cand, keyword) >= threshold:
                            spans.append((s, e, None))
        return spans

    @staticmethod
    def _detector_spans(cr: _CompiledRule, state: _ScanState) -> tuple[list[Span], float]:
        spans: list[Span] = []
        scale = 1.0
        for name in cr.rule.detectors:
            findings = state.detector(name)
            spans.extend(findings.found)
            scale = max(scale, findings.scale)
        return spans, scale


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
    """About `width` characters around data[start:end], redacted, on one line.

    A wider window is redacted first (so an identifier cut by the window edge is still
    recognized and masked), with markers around the match; the final cut is made around the
    markers, since redaction may change lengths.
    """
    end = min(end, start + width)
    # Markers inside a token (an e-mail, a combo line) would stop the redaction patterns from
    # recognising it: move them out to the surrounding white space first.
    start, end = _snap_to_blanks(data, start, end)
    ctx = max(0, (width - (end - start)) // 2)
    a = max(0, start - ctx - _MARGIN)
    b = min(len(data), end + ctx + _MARGIN)
    text = (data[a:start].decode("utf-8", "replace") + "\x02"
            + data[start:end].decode("utf-8", "replace") + "\x03"
            + data[end:b].decode("utf-8", "replace"))
    text = redact(text)
    i, j = text.find("\x02"), text.find("\x03")
    if i < 0 or j < i:  # markers swallowed by a redaction: keep the middle
        half = len(text) // 2
        left, mid, right = text[:half], "", text[half:]
    else:
        left, mid, right = text[:i], text[i + 1:j], text[j + 1:]
    if len(left) > ctx:
        left = left[-ctx:]
        cut = left.find(" ")
        left = "…" + (left[cut + 1:] if 0 <= cut < 24 else left)
    if len(right) > ctx:
        right = right[:ctx]
        cut = right.rfind(" ")
        right = (right[:cut] if cut > len(right) - 24 else right) + "…"
    out = (left + mid + right).replace("\x02", "").replace("\x03", "")
    # Redact again once the markers are gone: redaction is idempotent, and a token the
    # markers still split is whole again here.
    return _BLANKS.sub(" ", redact(out)).strip()


_SNAP_LIMIT = 64  # bytes a marker may move to reach white space


def _snap_to_blanks(data: bytes, start: int, end: int) -> tuple[int, int]:
    lo = max(0, start - _SNAP_LIMIT)
    cut = max(data.rfind(b" ", lo, start), data.rfind(b"\n", lo, start),
              data.rfind(b"\t", lo, start))
    if cut >= 0 or lo == 0:
        start = cut + 1
    hi = min(len(data), end + _SNAP_LIMIT)
    stops = [i for i in (data.find(b" ", end, hi), data.find(b"\n", end, hi),
                         data.find(b"\t", end, hi)) if i >= 0]
    if stops:
        end = min(stops)
    elif hi == len(data):
        end = hi
    return start, end
