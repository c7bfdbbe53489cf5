"""Running the `[[rules.tests]]` examples embedded in rule files (`leakmon rules test`).

Every example goes through the same `Engine` the daemon uses, so a passing example means the
compiled rule really fires (or really stays quiet) on that text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from monitor.matching.engine import Engine, FingerprintSetLike
from monitor.matching.rules import RuleSet


@dataclass(slots=True, frozen=True)
class RuleTestResult:
    """One example's outcome. `status` is "passed", "failed" or "skipped"."""

    file: str
    rule_id: str
    line: int
    status: str
    message: str = ""

    def format(self) -> str:
        return f"{self.file}:{self.line}: rule {self.rule_id}: {self.status}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "rule": self.rule_id, "line": self.line,
                "status": self.status, "message": self.message}


def run_rule_tests(ruleset: RuleSet, *, phone_region: str = "FR",
                   fingerprint_sets: Mapping[str, FingerprintSetLike] | None = None
                   ) -> list[RuleTestResult]:
    """Scan every example of every loaded rule (disabled rules too: their examples must hold
    once they are switched on). Fingerprint rules without their set are skipped."""
    engine = Engine.build(ruleset, fingerprint_sets=fingerprint_sets or {},
                          phone_region=phone_region, include_disabled=True,
                          skip_missing_fingerprints=True)
    skipped = {r.id for r in engine.skipped}
    results: list[RuleTestResult] = []
    for rule in ruleset.rules:
        for test in rule.tests:
            if rule.id in skipped:
                results.append(RuleTestResult(rule.file, rule.id, test.line, "skipped",
                                              f"fingerprint set {rule.fingerprints!r} not loaded"))
                continue
            hit = next((h for h in engine.scan_text(test.text) if h.rule_id == rule.id), None)
            results.append(_judge(rule.file, rule.id, test.line, test.match, test.count, hit))
    return results


def _judge(file: str, rule_id: str, line: int, match: bool, count: int | None, hit) -> RuleTestResult:
    sample = "example"
    if match and hit is None:
        return RuleTestResult(file, rule_id, line, "failed", f"{sample} should match but did not")
    if not match and hit is not None:
        return RuleTestResult(file, rule_id, line, "failed",
                              f"{sample} should not match but did (count {hit.count}: {hit.excerpt})")
    if match and count is not None and hit.count != count:
        return RuleTestResult(file, rule_id, line, "failed",
                              f"{sample} matched with count {hit.count}, expected {count}")
    return RuleTestResult(file, rule_id, line, "passed")
