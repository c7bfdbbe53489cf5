"""The matching engine: rules compiled once into one Hyperscan database, one pass per document.

`Engine.build` turns a `RuleSet` into a flat list of Hyperscan patterns, each with a *role*
(which rule or detector or context word it serves). `Engine.scan` runs the database over the
document's bytes once, buckets the raw matches by pattern, and then only looks at the rules
whose patterns actually matched: per-document Python work grows with the number of matches,
not with the number of rules or bytes. Word boundaries, fuzzy scores, detector checksums,
`near`, `exclude` and `min_count` are all decided on those few positions.

Two kinds of patterns stay out of the main database because they match too often to pay a
Python callback per match: *bulk* detectors (those only used by rules with min_count >= 2
and no `near`: NIR, IBAN, card, combo lines in the shipped rules) run in their own passes,
chunk by chunk, and stop once their rules are proven (`_bulk_findings`); context words run
only when a rule using them is evaluated, and for `near` only around its matches.
"""

from __future__ import annotations

import bisect
import re
import threading
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
from monitor.matching.triggers import NativeTriggers
from monitor.models import Hit, RecordMatch

EXCERPT_CHARS = 200
_BLANKS = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]+")
_MARGIN = 48  # extra bytes redacted then dropped, so identifiers cut at the edge are masked

# Bulk detectors (see Engine._bulk_findings): documents up to BULK_CHUNK bytes are validated
# exactly; larger ones are scanned in chunks cut after a newline (no trigger spans one), the
# first BULK_CHUNK bytes, then twice as much each time up to BULK_CHUNK_MAX.
BULK_CHUNK = 64 * 1024
BULK_CHUNK_MAX = 1024 * 1024
MAX_BULK_DETECTORS = 8  # each group is one more pass over the document


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
# Context words (near/exclude) are in a database of their own (_word_scanner), and bulk
# detectors in one per scan group (_bulk_db): both are scanned only where needed.


@dataclass(slots=True)
class _CompiledRule:
    rule: Rule
    pids: list[int] = field(default_factory=list)
    py_regexes: list[re.Pattern[str]] = field(default_factory=list)
    near: tuple[int, ...] = ()
    exclude: tuple[int, ...] = ()


class _ScanState:
    """Per-scan caches: confirmed word positions, detector findings, fingerprint matches."""

    __slots__ = ("_dets", "_fps", "_text", "_words", "by_pid", "data", "engine", "mask_names",
                 "overflow")

    # Context words live in their own database (Engine._word_scanner): they are only looked
    # for when a rule with `near` or `exclude` is evaluated, and for `near` only in the
    # windows around that rule's matches. Common words ("free" in every @free.fr address of
    # a dump) would otherwise cost a Python callback each on every document.

    def __init__(self, engine: Engine, data: bytes, by_pid: dict[int, list[tuple[int, int]]],
                 overflow: dict[int, int] | None = None,
                 bulk: dict[str, det.Findings] | None = None):
        self.engine, self.data, self.by_pid = engine, data, by_pid
        self.overflow = overflow or {}
        self._words: dict[int, list[int]] | None = None  # whole-document positions
        self._dets: dict[str, det.Findings] = dict(bulk or {})
        self._fps: dict[str, list[RecordMatch]] = {}
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
        eng = self.engine
        if eng._word_scanner is None:
            return {}
        data = self.data
        out: dict[int, list[int]] = {}
        for a, b in ranges:
            by_pid, _ = eng._word_scanner.scan(data[a:b] if (a, b) != (0, len(data)) else data)
            for pid, matches in by_pid.items():
                word = eng._word_of_pid[pid]
                _, left, right = eng._word_pids[word]
                got = [a + s for s, e in matches if at_boundaries(data, a + s, a + e, left, right)]
                if got:
                    out.setdefault(word, []).extend(got)
        for v in out.values():
            v.sort()
        return out

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
        self._word_patterns: list[Pattern] = []
        self._word_of_pid: list[int] = []  # pid in the word database -> word index
        self._word_scanner: Scanner | None = None
        self._word_max_len = 0
        self._scanner: Scanner | None = None
        # Bulk detectors: name -> distinct valid values that prove every rule using it.
        self._bulk_need: dict[str, int] = {}
        self._bulk_groups: list[tuple[str, ...]] = []
        self._bulk_dbs: dict[frozenset[str], tuple[Scanner | NativeTriggers, list[str]]] = {}
        self._bulk_lock = threading.Lock()

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
        eng._plan_detectors()
        eng._scanner = Scanner(eng._patterns) if eng._patterns else None
        eng._word_scanner = Scanner(eng._word_patterns) if eng._word_patterns else None
        return eng

    def _plan_detectors(self) -> None:
        """Put each detector's triggers in the main database, or keep it apart as a *bulk*
        detector: every rule using it needs min_count >= 2 and no `near` (so its positions
        only matter for counting). Bulk detectors are the ones whose triggers match
        everywhere in dumps (digit runs, combo lines); scanned apart, in chunks, they stop
        as soon as their rules are proven instead of costing a callback per candidate."""
        bulk: dict[str, int] = {}
        for name, ris in self._rules_by_detector.items():
            rules = [self._compiled[ri].rule for ri in ris]
            if all(r.min_count >= 2 and not r.near for r in rules):
                bulk[name] = max(r.min_count for r in rules)
        for name in sorted(bulk)[MAX_BULK_DETECTORS:]:
            del bulk[name]
        self._bulk_need = bulk
        for name in self._rules_by_detector:
            if name not in bulk:
                self._det_pids[name] = [self._add(t, ("det", name))
                                        for t in det.DETECTORS[name].triggers]
        groups: dict[str, list[str]] = {}
        for name in sorted(bulk):
            d = det.DETECTORS[name]
            # "(native)" is no detector name: the C-triggered ones share one pass
            groups.setdefault("(native)" if d.native else d.scan_group or name, []).append(name)
        self._bulk_groups = [tuple(g) for g in groups.values()]
        for g in self._bulk_groups:  # every subset: a group shrinks as detectors stop
            for mask in range(1, 2 ** len(g)):
                self._bulk_db(frozenset(n for i, n in enumerate(g) if mask >> i & 1))

    def _bulk_db(self, names: frozenset[str]) -> tuple[Scanner | NativeTriggers, list[str]]:
        """The scanner of the triggers of `names` (made once, shared by threads): their C
        mirrors when they all have one, else a Hyperscan database."""
        got = self._bulk_dbs.get(names)
        if got is None:
            with self._bulk_lock:
                got = self._bulk_dbs.get(names)
                if got is None:
                    detectors = [det.DETECTORS[name] for name in sorted(names)]
                    owner: list[str] = []
                    scanner: Scanner | NativeTriggers
                    if all(d.native for d in detectors):
                        ids: list[int] = []
                        for d in detectors:
                            ids.extend(d.native)
                            owner.extend([d.name] * len(d.native))
                        scanner = NativeTriggers(ids)
                    else:
                        pats: list[Pattern] = []
                        for d in detectors:
                            pats.extend(d.triggers)
                            owner.extend([d.name] * len(d.triggers))
                        scanner = Scanner(pats)
                    got = self._bulk_dbs[names] = (scanner, owner)
        return got

    def _add(self, pattern: Pattern, role: tuple[Any, ...]) -> int:
        self._patterns.append(pattern)
        self._roles.append(role)
        return len(self._patterns) - 1

    def _word(self, word: str) -> int:
        key = canon(word)
        if key not in self._word_index:
            left, right = edges_are_words(word)
            idx = len(self._word_pids)
            pids = []
            for expr in keyword_patterns(word):
                pids.append(len(self._word_patterns))
                self._word_patterns.append(Pattern(expr, CASELESS | SOM, label=f"word {word!r}"))
                self._word_of_pid.append(idx)
                # Hyperscan literals may be longer than the word (escapes, variants): a
                # generous bound on the byte length of one occurrence.
                self._word_max_len = max(self._word_max_len, 4 * len(word.encode()) + 8)
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
        for rx in rule.regex:
            plan = plan_regex(rx, label=f"{where} regex {rx!r}")
            if isinstance(plan, str):
                raise RuleFileError(f"{rule.file}:{rule.line}: rule {rule.id}: bad regex "
                                    f"{rx!r}: {plan}")
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
            self._rules_by_detector.setdefault(name, []).append(ri)
        cr.near = tuple(sorted({self._word(w) for w in rule.near}))
        cr.exclude = tuple(sorted({self._word(w) for w in rule.exclude}))

    # --- scanning -----------------------------------------------------------------------

    @property
    def pattern_count(self) -> int:
        """Hyperscan patterns compiled for the rules: main database, context words and the
        bulk detectors' triggers (each counted once, not once per subset database)."""
        bulk = sum(len(det.DETECTORS[n].triggers) for n in self._bulk_need)
        return len(self._patterns) + len(self._word_patterns) + bulk

    def raw_scan(self, data: bytes) -> int:
        """Only the matching passes (for benchmarks): the number of raw matches of the main
        Hyperscan database and of the bulk detectors' triggers, which run over the whole
        document here (no early stop, which needs validation)."""
        n = 0
        if self._scanner is not None:
            buckets, overflow = self._scanner.scan(data)
            n += sum(map(len, buckets.values())) + sum(overflow.values())
        for group in self._bulk_groups if data else ():
            buckets, overflow = self._bulk_db(frozenset(group))[0].scan(data)
            n += sum(map(len, buckets.values())) + sum(overflow.values())
        return n

    def _bulk_findings(self, data: bytes) -> dict[str, det.Findings]:
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
        out: dict[str, det.Findings] = {}
        for group in self._bulk_groups:
            out.update(self._bulk_group(group, data))
        return out

    def _bulk_group(self, group: tuple[str, ...], data: bytes) -> dict[str, det.Findings]:
        region = self.phone_region
        size = len(data)
        if size <= BULK_CHUNK:
            scanner, owner = self._bulk_db(frozenset(group))
            buckets, overflow = scanner.scan(data)
            ends: dict[str, list[int]] = {}
            unseen: dict[str, int] = {}
            for pid, lst in buckets.items():
                name = owner[pid]
                ends.setdefault(name, []).extend(e for _, e in lst)
                unseen[name] = unseen.get(name, 0) + overflow.get(pid, 0)
            return {name: det.find(det.DETECTORS[name], data, e, region, unseen[name])
                    for name, e in ends.items()}
        need = self._bulk_need
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
            scanner, owner = self._bulk_db(frozenset(open_))
            buckets, overflow = scanner.scan(data[pos:stop])
            ends = {}
            unseen = {}
            for pid, lst in buckets.items():
                name = owner[pid]
                ends.setdefault(name, []).extend(pos + e for _, e in lst)
                unseen[name] = unseen.get(name, 0) + overflow.get(pid, 0)
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
        out: dict[str, det.Findings] = {}
        for name, got in have.items():
            if not got:
                continue
            est = estimate[name]
            if closed_at.get(name, size) < size:
                est *= size / closed_at[name]
            out[name] = det.Findings([got[k] for k in sorted(got)], max(1.0, est / len(got)))
        return out

    def _fingerprint_hits(self, data: bytes) -> list[Hit]:
        if not self._fingerprint_rules:
            return []
        state = _ScanState(self, data, {})
        return [h for ri in self._fingerprint_rules
                if (h := self._evaluate(self._compiled[ri], state)) is not None]

    def scan(self, data: bytes) -> list[Hit]:
        """Every rule that fires on `data` (UTF-8 text of one document part), in rule order."""
        if (self._scanner is None and not self._bulk_need) or not data:
            return self._fingerprint_hits(data)
        by_pid, overflow = self._scanner.scan(data) if self._scanner is not None else ({}, {})
        bulk = self._bulk_findings(data)
        touched: set[int] = set(self._fingerprint_rules)
        for name, findings in bulk.items():
            if findings.found:
                touched.update(self._rules_by_detector[name])
        roles = self._roles
        for pid in by_pid:
            role = roles[pid]
            kind = role[0]
            if kind == "det":
                touched.update(self._rules_by_detector[role[1]])
            else:
                touched.add(role[1])
        if not touched:
            return []
        state = _ScanState(self, data, by_pid, overflow, bulk)
        # Our own records in this document: the prose around any hit is about them (names,
        # addresses, birth dates), so excerpts lose every proper name. Fingerprint matches are
        # cached in the state, so asking here costs nothing more.
        state.mask_names = any(state.fingerprints(fp_set) for ri in self._fingerprint_rules
                               if (fp_set := self._compiled[ri].rule.fingerprints))
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
        unchecked = (sum(1 for _, _, v in kept if v is None)
                     + sum(state.overflow.get(pid, 0) for pid in cr.pids))
        # The threshold needs that many distinct values really seen: an extrapolated count
        # (one test card repeated 5,000 times) must not make a bulk rule fire.
        if len(values) + unchecked < rule.min_count:
            return None
        count = round(len(values) * scale) + unchecked
        first = kept[0]
        return Hit(rule_id=rule.id, title=rule.title, severity=rule.severity, count=count,
                   excerpt=excerpt(state.data, first[0], first[1], mask_names=state.mask_names),
                   tags=rule.tags)

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
                for s0, e0 in state.by_pid[pid]:
                    span = fuzzy.word_span(data, s0, e0, left, right)
                    if span is not None:
                        s, e = span
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
    """Spans with one of `words` starting within `window` bytes. The words are only looked
    for in the windows around the spans (merged), not in the whole document."""
    size = len(state.data)
    reach = window + state.engine._word_max_len
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
    for span in sorted(spans, key=lambda x: (x[0], -x[1])):
        if span[0] >= last_end:
            out.append(span)
            last_end = span[1]
    return out


def excerpt(data: bytes, start: int, end: int, width: int = EXCERPT_CHARS, *,
            mask_names: bool = False) -> str:
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
    text = redact(text, mask_names=mask_names)
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
    return _BLANKS.sub(" ", redact(out, mask_names=mask_names)).strip()


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
