"""Build a ready-to-scan engine from the config or from command-line choices.

Used by `leakmon scan`, `leakmon run`/`once` and the daemon's reload, so that every entry
point applies the same policy: a broken rule file or a rule naming a missing fingerprint
set costs only those rules (each problem is logged with file, rule and line) while every
other rule keeps working; only when nothing usable remains is it an error.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.errors import FingerprintError, RuleFileError

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.matching.engine import Engine
    from monitor.matching.fingerprints import FingerprintSet
    from monitor.matching.rules import Rule, RuleProblem, RuleSet

log = logging.getLogger(__name__)

# Severity of the rule made for a set given with --fingerprints that no rule file uses.
IMPLICIT_FINGERPRINT_SEVERITY = "high"


@dataclass(slots=True)
class LoadedEngine:
    """The compiled engine, the rules it runs, and the fingerprint sets it holds."""

    engine: Engine
    ruleset: RuleSet
    fingerprint_sets: Mapping[str, FingerprintSet] = field(default_factory=dict)

    @property
    def problems(self) -> list[RuleProblem]:
        return list(self.ruleset.problems)


def load_engine(config: Config, state_dir: Path, *,
                rule_paths: Sequence[str | Path] | None = None,
                fingerprint_names: Sequence[str] | None = None) -> LoadedEngine:
    """Rules from `rule_paths` (else `config.rules`), fingerprint sets from `fingerprint_names`
    (else `config.fingerprints`) plus every set a rule names; compile them into one Engine.

    A set named on the command line or in the config must exist (FingerprintError naming it);
    a set named only by a rule that is missing drops that rule, with a warning. A set given
    without any rule using it gets an implicit rule `fingerprints.NAME` (min_records = 1), so
    that `leakmon scan --fingerprints patients dump.csv` works without a rule file.
    Raises RuleFileError (listing the problems) when no usable rule remains.
    """
    with gc_paused():
        return _load_engine(config, state_dir, rule_paths, fingerprint_names)


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: building an engine (imports, cached rules
    unpickled) makes tens of thousands of objects that all live on, and the collector would
    walk them again and again (6 ms of a 0.1 s start-up) to free none."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _load_engine(config: Config, state_dir: Path, rule_paths: Sequence[str | Path] | None,
                 fingerprint_names: Sequence[str] | None) -> LoadedEngine:
    from monitor.matching.engine import Engine
    from monitor.matching.rules import RuleSet, load_rules

    paths = list(rule_paths) if rule_paths else list(config.rules)
    wanted = list(fingerprint_names) if fingerprint_names is not None else list(config.fingerprints)
    wanted = list(dict.fromkeys(wanted))
    if not paths and not wanted:
        raise RuleFileError(
            "no rules to scan with: give --rules PATH (a rule file or folder) or "
            "--fingerprints NAME, or set `rules = [...]` in the config file")

    ruleset = load_rules(paths) if paths else RuleSet()
    for problem in ruleset.problems:
        _log_problem(problem)

    sets: dict[str, FingerprintSet] = {}
    if wanted:
        sets.update(_load_sets(state_dir, wanted))
    rules: list[Rule] = []
    problems = list(ruleset.problems)
    for rule in ruleset.rules:
        if not rule.enabled:
            rules.append(rule)
            continue
        name = rule.fingerprints
        if name and name not in sets:
            try:
                sets.update(_load_sets(state_dir, [name]))
            except FingerprintError as e:
                problem = _problem(rule, f"fingerprint set {name!r} cannot be loaded, rule "
                                         f"not used: {e}")
                problems.append(problem)
                _log_problem(problem)
                continue
        rules.append(rule)

    used = {r.fingerprints for r in rules if r.fingerprints}
    ids = {r.id for r in rules}
    for name in wanted:
        if name not in used:
            rules.append(_implicit_rule(name, ids))

    usable = [r for r in rules if r.enabled]
    if not usable:
        errors = [p for p in problems if p.severity == "error"]
        detail = "; ".join(p.format() for p in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        where = ", ".join(str(p) for p in paths)
        raise RuleFileError(
            f"no usable rule in {where}" + (f": {detail}{more}" if detail else
                                            ": no enabled rule found"),
            problems)

    final = RuleSet(rules=rules, problems=problems, files=list(ruleset.files))
    engine = Engine.build(final, fingerprint_sets=sets,
                          phone_region=config.matching.phone_region)
    return LoadedEngine(engine=engine, ruleset=final, fingerprint_sets=sets)


def _load_sets(state_dir: Path, names: Sequence[str]) -> dict[str, FingerprintSet]:
    from monitor.matching.fingerprints import load_fingerprint_sets

    return dict(load_fingerprint_sets(state_dir, list(names)))


def _implicit_rule(name: str, taken: set[str]) -> Rule:
    from monitor.matching.rules import Rule

    rule_id = f"fingerprints.{name}"
    n = 2
    while rule_id in taken:
        rule_id = f"fingerprints.{name}.{n}"
        n += 1
    taken.add(rule_id)
    return Rule(id=rule_id, title=f"Records of fingerprint set {name}",
                severity=IMPLICIT_FINGERPRINT_SEVERITY, tags=("fingerprints",),
                fingerprints=name, min_records=1, file="--fingerprints")


def _problem(rule: Rule, message: str) -> RuleProblem:
    from monitor.matching.rules import RuleProblem

    return RuleProblem(file=rule.file, rule_id=rule.id, line=rule.line, message=message,
                       severity="warning")


def _log_problem(problem: RuleProblem) -> None:
    """Errors (the rule or file is not used) as warnings; mere lint (a rule without an
    embedded example) at info, where `leakmon rules check` shows it but a scan does not."""
    level = logging.WARNING if problem.severity == "error" or "not used" in problem.message \
        else logging.INFO
    if log.isEnabledFor(level):  # a thousand rules without examples: format none of them
        log.log(level, "rule problem: %s", problem.format())
