"""The matching engine: rules compiled once into one Hyperscan database, one pass per document.

`Engine.build` compiles a `RuleSet` (compile.py) into a flat list of Hyperscan patterns, each
with a *role* (roles.py: which keyword, fuzzy variant, regex or detector it serves).
`Engine.scan` runs the database over the document's bytes once, buckets the raw matches by
pattern, and then only evaluates the rules whose patterns actually matched (evaluate.py):
per-document Python work grows with the number of matches, not with the number of rules or
bytes. Word boundaries, fuzzy scores, detector checksums, `near`, `exclude` and `min_count`
are all decided on those few positions, and the first match of a hit becomes its redacted
excerpt (excerpts.py).

Two kinds of patterns stay out of the main database because they match too often to pay a
Python callback per match: *bulk* detectors (those only used by rules with min_count >= 2
and no `near`: NIR, IBAN, card, combo lines in the shipped rules) run in their own passes,
chunk by chunk, and stop once their rules are proven (bulk.py); context words run only when
a rule using them is evaluated, and for `near` only around its matches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from monitor.errors import RuleFileError
from monitor.matching.detectors import AnyFindings
from monitor.matching.engine.bulk import BULK_CHUNK, BULK_CHUNK_MAX, BulkDetectors
from monitor.matching.engine.compile import MAX_BULK_DETECTORS, CompiledRules, compile_rules
from monitor.matching.engine.evaluate import FingerprintSetLike, ScanState, evaluate
from monitor.matching.engine.excerpts import EXCERPT_CHARS, excerpt
from monitor.matching.rules import Rule, RuleSet
from monitor.models import Hit, RecordMatch

__all__ = ["BULK_CHUNK", "BULK_CHUNK_MAX", "EXCERPT_CHARS", "MAX_BULK_DETECTORS", "Engine",
           "FingerprintSetLike", "excerpt"]


class Engine:
    """Compiled rules. Build once with `Engine.build`, then `scan` from any thread."""

    def __init__(self, compiled: CompiledRules, *, phone_region: str = "FR",
                 fingerprint_sets: Mapping[str, FingerprintSetLike] | None = None,
                 skipped: Sequence[Rule] = ()) -> None:
        self.compiled = compiled
        self.rules: list[Rule] = [cr.rule for cr in compiled.rules]
        self.skipped: list[Rule] = list(skipped)  # fingerprint rules whose set is not available
        self.phone_region = phone_region
        self.fingerprint_sets: dict[str, FingerprintSetLike] = dict(fingerprint_sets or {})
        self.bulk = BulkDetectors(compiled.bulk_need, phone_region)
        self._set_names = tuple(dict.fromkeys(  # the sets the fingerprint rules name
            name for ri in compiled.fingerprint_rules
            if (name := compiled.rules[ri].rule.fingerprints)))

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
        sets = dict(fingerprint_sets or {})
        kept: list[Rule] = []
        skipped: list[Rule] = []
        for rule in rules:
            if not (rule.enabled or include_disabled):
                continue
            if rule.fingerprints and rule.fingerprints not in sets:
                if skip_missing_fingerprints:
                    skipped.append(rule)
                    continue
                raise RuleFileError(
                    f"{rule.file}:{rule.line}: rule {rule.id}: fingerprint set "
                    f"{rule.fingerprints!r} is not loaded (import it with `leakmon fingerprints "
                    f"import {rule.fingerprints} ...` or pass --fingerprints {rule.fingerprints})")
            kept.append(rule)
        return cls(compile_rules(kept), phone_region=phone_region.upper(),
                   fingerprint_sets=sets, skipped=skipped)

    @property
    def pattern_count(self) -> int:
        """Hyperscan patterns compiled for the rules: main database, context words and the
        bulk detectors' triggers (each counted once, not once per subset database)."""
        c = self.compiled
        return len(c.patterns) + len(c.words.patterns) + self.bulk.pattern_count

    def raw_scan(self, data: bytes) -> int:
        """Only the matching passes (for benchmarks): the number of raw matches of the main
        Hyperscan database and of the bulk detectors' triggers, which run over the whole
        document here (no early stop, which needs validation)."""
        n = 0
        if self.compiled.scanner is not None:
            buckets, overflow = self.compiled.scanner.scan(data)
            n += sum(map(len, buckets.values())) + sum(overflow.values())
        return n + self.bulk.raw_count(data)

    def _state(self, data: bytes, by_pid: Mapping[int, list[tuple[int, int]]],
               overflow: Mapping[int, int] | None = None,
               bulk: Mapping[str, AnyFindings] | None = None,
               fingerprints: Mapping[str, list[RecordMatch]] | None = None) -> ScanState:
        return ScanState(self.compiled, data, by_pid, fingerprint_sets=self.fingerprint_sets,
                         phone_region=self.phone_region, overflow=overflow, bulk=bulk,
                         fingerprints=fingerprints)

    def _records(self, data: bytes) -> dict[str, list[RecordMatch]]:
        """The records of each set a fingerprint rule names, found in `data`."""
        out: dict[str, list[RecordMatch]] = {}
        for name in self._set_names:
            out[name] = list(self.fingerprint_sets[name].match(data))
        return out

    def _fingerprint_hits(self, data: bytes) -> list[Hit]:
        c = self.compiled
        if not c.fingerprint_rules:
            return []
        state = self._state(data, {})
        return [h for ri in c.fingerprint_rules if (h := evaluate(c.rules[ri], state)) is not None]

    def scan(self, data: bytes) -> list[Hit]:
        """Every rule that fires on `data` (UTF-8 text of one document part), in rule order."""
        c = self.compiled
        if (c.scanner is None and not c.bulk_need) or not data:
            return self._fingerprint_hits(data)
        by_pid, overflow = c.scanner.scan(data) if c.scanner is not None else ({}, {})
        bulk = self.bulk.findings(data)
        if not by_pid and not bulk and not c.fingerprint_rules:  # most documents: no rule
            return []
        # Sets first: most documents hold none of our records (the set's C screen says so
        # without a Python object), and a fingerprint rule without records cannot fire
        # (min_records >= 1), so such a document needs no evaluation of it.
        records = self._records(data) if c.fingerprint_rules else {}
        touched: set[int] = set(c.fingerprint_rules) if any(records.values()) else set()
        for name, findings in bulk.items():
            if findings.first() is not None:
                touched.update(c.rules_by_detector[name])
        pid_rules = c.pid_rules
        for pid in by_pid:
            touched.update(pid_rules[pid])
        if not touched:
            return []
        state = self._state(data, by_pid, overflow, bulk, records)
        # Our own records in this document: the prose around any hit is about them (names,
        # addresses, birth dates), so excerpts lose every proper name.
        state.mask_names = any(records.values())
        hits = []
        for ri in sorted(touched):
            hit = evaluate(c.rules[ri], state)
            if hit is not None:
                hits.append(hit)
        return hits

    def scan_text(self, text: str) -> list[Hit]:
        """`scan` for a Python string (rule tests, interactive use)."""
        return self.scan(text.encode("utf-8"))
