"""Rules compiled into pattern lists: the main Hyperscan database and the context words'.

`compile_rules` turns each rule's keywords (and their leet and fuzzy variants), regexes and
detector triggers into Hyperscan `Pattern`s, each with a role (roles.py), and puts the
`near`/`exclude` words in a database of their own, scanned only where a rule needs them.
Detectors whose rules only count (min_count >= 2, no `near`) stay out of the main database:
they become *bulk* detectors, scanned apart (bulk.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field

from monitor.errors import RuleFileError
from monitor.matching import detectors as det
from monitor.matching import fuzzy
from monitor.matching.engine.roles import (
    CompiledRule,
    ContextWord,
    DetectorRole,
    FuzzyRole,
    KeywordRole,
    RegexRole,
    Role,
    TriggerRole,
)
from monitor.matching.hyperscan_db import CASELESS, SOM, Pattern, Scanner, plan_regex
from monitor.matching.normalize import canon, edges_are_words, keyword_patterns
from monitor.matching.rules import Rule

MAX_BULK_DETECTORS = 8  # each scan group is one more pass over the document


@dataclass(slots=True)
class ContextWords:
    """The near/exclude words of every rule, one database; a word used by several rules is
    compiled once."""

    words: list[ContextWord] = field(default_factory=list)
    patterns: list[Pattern] = field(default_factory=list)
    word_of_pid: list[int] = field(default_factory=list)  # pid in this database -> word index
    # Hyperscan literals may be longer than the word (escapes, variants): a generous bound
    # on the byte length of one occurrence, for the windows `near` scans.
    max_len: int = 0
    scanner: Scanner | None = None
    _index: dict[str, int] = field(default_factory=dict)

    def add(self, word: str) -> int:
        key = canon(word)
        if key not in self._index:
            left, right = edges_are_words(word)
            idx = len(self.words)
            pids = []
            for expr in keyword_patterns(word):
                pids.append(len(self.patterns))
                self.patterns.append(Pattern(expr, CASELESS | SOM, label=f"word {word!r}"))
                self.word_of_pid.append(idx)
                self.max_len = max(self.max_len, 4 * len(word.encode()) + 8)
            self._index[key] = idx
            self.words.append(ContextWord(tuple(pids), left, right))
        return self._index[key]


@dataclass(slots=True)
class CompiledRules:
    """Everything `Engine.scan` reads, made once by `compile_rules`."""

    rules: list[CompiledRule] = field(default_factory=list)
    patterns: list[Pattern] = field(default_factory=list)  # the main database, by pid
    roles: list[Role] = field(default_factory=list)  # same index as `patterns`
    pid_rules: list[tuple[int, ...]] = field(default_factory=list)  # pid -> rules it serves
    det_pids: dict[str, list[int]] = field(default_factory=dict)  # main-database detectors
    rules_by_detector: dict[str, list[int]] = field(default_factory=dict)
    fingerprint_rules: list[int] = field(default_factory=list)
    bulk_need: dict[str, int] = field(default_factory=dict)  # bulk detector -> values needed
    words: ContextWords = field(default_factory=ContextWords)
    scanner: Scanner | None = None

    def _add(self, pattern: Pattern, role: Role, rules: tuple[int, ...]) -> int:
        self.patterns.append(pattern)
        self.roles.append(role)
        self.pid_rules.append(rules)
        return len(self.patterns) - 1

    def add_rule(self, rule: Rule) -> None:
        ri = len(self.rules)
        cr = CompiledRule(rule)
        self.rules.append(cr)
        where = f"rule {rule.id} ({rule.file}:{rule.line})"
        if rule.fingerprints:
            self.fingerprint_rules.append(ri)
            return
        mine = (ri,)
        for kw in rule.keywords:
            left, right = edges_are_words(kw)
            exact = KeywordRole(left, right)
            for expr in keyword_patterns(kw):
                cr.pids.append(self._add(Pattern(expr, CASELESS | SOM,
                                                 label=f"{where} keyword {kw!r}"), exact, mine))
            if rule.fuzzy is None or rule.fuzzy >= 100:
                continue
            for leet in fuzzy.leet_patterns(kw):
                cr.pids.append(self._add(Pattern(leet, CASELESS | SOM, label=f"{where} leet {kw!r}"),
                                         exact, mine))
            dist = fuzzy.edit_distance_for(kw, rule.fuzzy)
            if dist:
                cr.pids.append(self._add(
                    Pattern(fuzzy.approx_pattern(kw), CASELESS | SOM, edit_distance=dist,
                            label=f"{where} fuzzy {kw!r}"),
                    FuzzyRole(kw, rule.fuzzy, left, right), mine))
        for rx in rule.regex:
            plan = plan_regex(rx, label=f"{where} regex {rx!r}")
            if isinstance(plan, str):
                raise RuleFileError(f"{rule.file}:{rule.line}: rule {rule.id}: bad regex "
                                    f"{rx!r}: {plan}")
            if plan.mode == "hs":
                cr.pids.append(self._add(plan.pattern, RegexRole(), mine))
            else:
                assert plan.python is not None
                cr.pids.append(self._add(plan.pattern, TriggerRole(plan.python), mine))
        for name in rule.detectors:
            if name not in det.DETECTORS:
                raise RuleFileError(f"{rule.file}:{rule.line}: rule {rule.id}: unknown detector "
                                    f"{name!r}")
            self.rules_by_detector.setdefault(name, []).append(ri)
        cr.near = tuple(sorted({self.words.add(w) for w in rule.near}))
        cr.exclude = tuple(sorted({self.words.add(w) for w in rule.exclude}))

    def plan_detectors(self) -> None:
        """Put each detector's triggers in the main database, or keep it apart as a *bulk*
        detector: every rule using it needs min_count >= 2 and no `near` (so its positions
        only matter for counting). Bulk detectors are the ones whose triggers match
        everywhere in dumps (digit runs, combo lines); scanned apart, in chunks, they stop
        as soon as their rules are proven instead of costing a callback per candidate."""
        bulk: dict[str, int] = {}
        for name, ris in self.rules_by_detector.items():
            rules = [self.rules[ri].rule for ri in ris]
            if all(r.min_count >= 2 and not r.near for r in rules):
                bulk[name] = max(r.min_count for r in rules)
        for name in sorted(bulk)[MAX_BULK_DETECTORS:]:
            del bulk[name]
        self.bulk_need = bulk
        for name, ris in self.rules_by_detector.items():
            if name not in bulk:
                role, served = DetectorRole(name), tuple(ris)
                self.det_pids[name] = [self._add(t, role, served)
                                       for t in det.DETECTORS[name].triggers]


def compile_rules(rules: Iterable[Rule]) -> CompiledRules:
    """Compile `rules` (the ones the engine keeps) into both databases: from the rule cache
    (rulecache.py) when rules of the same content were compiled before in this environment,
    with the caller's Rule objects put back in place."""
    from monitor.matching import rulecache

    rules = list(rules)
    made: list[CompiledRules] = []

    def build() -> tuple[CompiledRules, bytes | None, bytes | None]:
        out = _compile_rules(rules)
        made.append(out)
        return _stored(out)

    def check(entry: object) -> bool:
        return (isinstance(entry, tuple) and len(entry) == 3
                and isinstance(entry[0], CompiledRules) and len(entry[0].rules) == len(rules)
                and all(cr.rule is r for cr, r in zip(entry[0].rules, rules, strict=True)))

    key = rulecache.entry_key(b"compiled", rulecache.content_digest(rules))
    out, main_key, words_key = rulecache.cached(
        rulecache.MAGIC_COMPILED, ".compiled", key, build, persistent=rules, check=check,
        keep=lambda entry: entry[1] is not None or not entry[0].patterns)
    if made:  # compiled here: its scanners are already built
        out.scanner, out.words.scanner = made[0].scanner, made[0].words.scanner
        return out
    out.scanner = Scanner(out.patterns, cache_key=main_key) if out.patterns else None
    out.words.scanner = (Scanner(out.words.patterns, cache_key=words_key)
                         if out.words.patterns else None)
    return out


def _stored(out: CompiledRules) -> tuple[CompiledRules, bytes | None, bytes | None]:
    """What the rule cache keeps of `out`: a copy without its Hyperscan scanners (those are
    in the Hyperscan cache), and their keys there."""
    main, words = out.scanner, out.words.scanner
    copy = dataclasses.replace(out, scanner=None,
                               words=dataclasses.replace(out.words, scanner=None))
    return (copy, main.cache_key if main else None, words.cache_key if words else None)


def _compile_rules(rules: list[Rule]) -> CompiledRules:
    out = CompiledRules()
    for rule in rules:
        out.add_rule(rule)
    out.plan_detectors()
    out.scanner = Scanner(out.patterns) if out.patterns else None
    out.words.scanner = Scanner(out.words.patterns) if out.words.patterns else None
    return out
