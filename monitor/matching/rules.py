"""Rule files: TOML `[[rules]]` tables loaded into `Rule` records, with every problem reported.

A rule file is written by an operator under pressure; a typo must never silently disable a
rule. So unknown keys, wrong types, bad regexes, unknown detectors and duplicate ids are all
reported with the file, the rule id and the line, and a file with any error contributes no
rules at all (the daemon keeps its last good set) while other files still load.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.models import SEVERITIES
from monitor.tables import Table, TypeSpec

DEFAULT_WINDOW = 300
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$")

RULE_KEYS = frozenset({
    "id", "title", "severity", "tags", "keywords", "regex", "fuzzy", "detector", "fingerprints",
    "min_records", "min_count", "near", "window", "exclude", "enabled", "description", "tests",
})
TEST_KEYS = frozenset({"text", "match", "count"})


@dataclass(slots=True, frozen=True)
class RuleTest:
    """One embedded example: scanning `text` must (or must not) fire the rule."""

    text: str
    match: bool
    count: int | None = None
    line: int = 0


@dataclass(slots=True)
class Rule:
    """One validated rule. Lists are never None; `window` applies to `near`."""

    id: str
    title: str
    severity: str = "medium"
    tags: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    regex: tuple[str, ...] = ()
    fuzzy: int | None = None
    detectors: tuple[str, ...] = ()
    fingerprints: str | None = None
    min_records: int = 1
    min_count: int = 1
    near: tuple[str, ...] = ()
    window: int = DEFAULT_WINDOW
    exclude: tuple[str, ...] = ()
    enabled: bool = True
    description: str = ""
    tests: tuple[RuleTest, ...] = ()
    file: str = ""
    line: int = 0


@dataclass(slots=True, frozen=True)
class RuleProblem:
    """Something wrong in a rule file. `severity` is "error" (the file is not used) or
    "warning" (the rule loads, but probably not as meant)."""

    file: str
    rule_id: str | None
    line: int | None
    message: str
    severity: str = "error"

    def format(self) -> str:
        """`FILE:LINE: rule ID: message`, the form editors and CI logs understand."""
        where = f"{self.file}:{self.line}" if self.line else self.file
        rule = f" rule {self.rule_id}:" if self.rule_id else ""
        level = "" if self.severity == "error" else f" {self.severity}:"
        return f"{where}:{level}{rule} {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "rule": self.rule_id, "line": self.line,
                "message": self.message, "severity": self.severity}


@dataclass(slots=True)
class RuleSet:
    """Rules from every file that loaded cleanly, and the problems of all files."""

    rules: list[Rule] = field(default_factory=list)
    problems: list[RuleProblem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[RuleProblem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors


def rule_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[RuleProblem]]:
    """Expand files and folders (recursively, *.toml, sorted) into rule file paths."""
    files: list[Path] = []
    problems: list[RuleProblem] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*.toml") if q.is_file())
            if not found:
                problems.append(RuleProblem(str(p), None, None, "folder holds no *.toml rule file",
                                            "warning"))
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            problems.append(RuleProblem(str(p), None, None, "no such file or folder"))
    return files, problems


def load_rules(paths: Iterable[str | Path], *,
               known_fingerprint_sets: Collection[str] | None = None) -> RuleSet:
    """Load rule files and folders. Never raises for bad content: see `RuleSet.problems`.

    `known_fingerprint_sets`, when given, makes a rule naming another set an error.
    """
    from monitor.matching.detectors import DETECTORS  # late: detectors import nothing from here
    from monitor.matching.hyperscan_db import check_regex

    files, problems = rule_files(paths)
    result = RuleSet(problems=problems)
    seen_ids: dict[str, str] = {}
    for path in files:
        rules, file_problems = _load_file(path, set(DETECTORS), known_fingerprint_sets,
                                          check_regex)
        for rule in rules:
            if rule.id in seen_ids:
                file_problems.append(RuleProblem(
                    rule.file, rule.id, rule.line,
                    f"duplicate rule id (first defined in {seen_ids[rule.id]})"))
        file_problems.sort(key=lambda p: p.line or 0)
        result.problems.extend(file_problems)
        result.files.append(str(path))
        if any(p.severity == "error" for p in file_problems):
            continue
        for rule in rules:
            seen_ids[rule.id] = f"{rule.file}:{rule.line}"
        result.rules.extend(rules)
    return result


# --- one file -----------------------------------------------------------------------------

_TOML_LINE = re.compile(r"at line (\d+)")
_RULE_HEADER = re.compile(r"^\s*\[\[\s*rules\s*\]\]")
_TEST_HEADER = re.compile(r"^\s*\[\[\s*rules\s*\.\s*tests\s*\]\]")


class _Lines:
    """Finds line numbers in the file text (tomllib reports no positions for valid TOML)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.rule_starts = [i + 1 for i, ln in enumerate(self.lines) if _RULE_HEADER.match(ln)]

    def rule_span(self, index: int) -> tuple[int, int]:
        if index >= len(self.rule_starts):  # inline-table form: no header per rule
            return 1, len(self.lines)
        start = self.rule_starts[index]
        end = self.rule_starts[index + 1] - 1 if index + 1 < len(self.rule_starts) else len(self.lines)
        return start, end

    def key_line(self, span: tuple[int, int], key: str) -> int:
        pat = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
        for n in range(span[0], span[1] + 1):
            if pat.match(self.lines[n - 1]):
                return n
        return span[0]

    def test_lines(self, span: tuple[int, int]) -> list[int]:
        return [n for n in range(span[0], span[1] + 1) if _TEST_HEADER.match(self.lines[n - 1])]


def _load_file(path: Path, detectors: set[str], known_sets: Collection[str] | None,
               check_regex) -> tuple[list[Rule], list[RuleProblem]]:
    """One file's rules and problems, from the rule cache when this very file (path and
    bytes) was parsed before in this environment (rulecache.py)."""
    from monitor.matching import rulecache

    name = str(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        return [], [RuleProblem(name, None, None, f"cannot read: {e.strerror}")]
    sets = None if known_sets is None else sorted(known_sets)
    key = rulecache.entry_key(b"rules", name.encode(), repr(sets).encode(), data)
    return rulecache.cached(rulecache.MAGIC_RULES, ".rules", key,
                            lambda: _parse_file(name, data, detectors, known_sets, check_regex),
                            check=_is_parsed)


def _is_parsed(value: object) -> bool:
    return (isinstance(value, tuple) and len(value) == 2
            and all(isinstance(v, list) for v in value)
            and all(isinstance(r, Rule) for r in value[0])
            and all(isinstance(p, RuleProblem) for p in value[1]))


def _parse_file(name: str, data: bytes, detectors: set[str], known_sets: Collection[str] | None,
                check_regex) -> tuple[list[Rule], list[RuleProblem]]:
    import tomllib  # a warm start takes the parsed rules from the cache

    try:
        # as open() in text mode reads it: universal newlines
        text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as e:
        return [], [RuleProblem(name, None, None, f"not UTF-8 text ({e.reason} at byte {e.start})")]
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = _TOML_LINE.search(str(e))
        line = int(m.group(1)) if m else max(1, len(text.splitlines()))  # "at end of document"
        return [], [RuleProblem(name, None, line, f"invalid TOML: {e}")]
    problems: list[RuleProblem] = []
    unknown_top = sorted(set(doc) - {"rules"})
    if unknown_top:
        problems.append(RuleProblem(name, None, 1, f"unknown top-level key(s) {', '.join(unknown_top)};"
                                    " rules are written as [[rules]] tables"))
    tables = doc.get("rules", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        problems.append(RuleProblem(name, None, 1, "rules must be written as [[rules]] tables"))
        return [], problems
    if not tables:
        problems.append(RuleProblem(name, None, None, "file defines no [[rules]]", "warning"))
    lines = _Lines(text)
    rules: list[Rule] = []
    ids_here: dict[str, int] = {}
    for index, table in enumerate(tables):
        span = lines.rule_span(index)
        rule, rule_problems = _parse_rule(table, name, span, lines, detectors, known_sets,
                                          check_regex)
        problems.extend(rule_problems)
        raw_id = table.get("id")
        if isinstance(raw_id, str) and raw_id:
            if raw_id in ids_here:
                problems.append(RuleProblem(
                    name, raw_id, lines.key_line(span, "id"),
                    f"duplicate rule id (first defined at line {ids_here[raw_id]})"))
                continue
            ids_here[raw_id] = lines.key_line(span, "id")
        if rule is not None:
            rules.append(rule)
    return rules, problems


_TYPE_NAMES: dict[type, str] = {str: "a string", int: "an integer", float: "a number",
                                 bool: "a boolean", list: "a list", dict: "a table"}


class _RuleTable(Table):
    """One `[[rules]]` table read with the shared typed-table checks, collecting problems
    (the file is checked whole, not stopped at the first) that each point at the offending
    key's line, in the wording of `rules check` ("fuzzy must be an integer, got a string")."""

    KEY_MESSAGE = "{key} {message}"
    TYPE_MESSAGE = "must be {expected}, got {value}"

    def __init__(self, table: dict[str, Any], file: str, rule_id: str | None,
                 span: tuple[int, int], lines: _Lines) -> None:
        super().__init__(table, file)
        self.file, self.rule_id, self.span, self.lines = file, rule_id, span, lines
        self.problems: list[RuleProblem] = []

    def report(self, key: str | None, message: str, severity: str = "error") -> None:
        line = self.lines.key_line(self.span, key) if key else self.span[0]
        self.problems.append(RuleProblem(self.file, self.rule_id, line, message, severity))

    def problem(self, key: str | None, message: str) -> None:
        self.report(key, message)

    def describe_types(self, types: TypeSpec) -> str:
        return " or ".join("true or false" if t is bool else _typename_of(t)
                           for t in (types if isinstance(types, tuple) else (types,)))

    def describe_value(self, value: Any) -> str:
        return _typename(value)

    def strings(self, key: str) -> list[str]:
        """A string or a list of non-empty strings."""
        value = self.table.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.report(key, f"{key} must be a string or a list of strings, got {_typename(value)}")
            return []
        if any(not v.strip() for v in value):
            self.report(key, f"{key} contains an empty string")
            return []
        return list(value)


def _typename_of(t: type) -> str:
    return _TYPE_NAMES.get(t, t.__name__)


def _typename(value: Any) -> str:
    return _typename_of(type(value))


def _parse_rule(table: dict, file: str, span: tuple[int, int], lines: _Lines,
                detectors: set[str], known_sets: Collection[str] | None,
                check_regex) -> tuple[Rule | None, list[RuleProblem]]:
    raw_id = table.get("id")
    rule_id = raw_id if isinstance(raw_id, str) and raw_id else None
    c = _RuleTable(table, file, rule_id, span, lines)
    if rule_id is None:
        c.report("id" if "id" in table else None, "rule has no id (add id = \"...\")")
    elif not ID_PATTERN.match(rule_id):
        c.report("id", "id may only use letters, digits and _ . : - (and start with a letter or digit)")
    for key in sorted(set(table) - RULE_KEYS):
        close = [k for k in RULE_KEYS if _similar(key, k)]
        hint = f" (did you mean {close[0]}?)" if close else ""
        c.report(key, f"unknown key {key!r}{hint}")

    title = c.string("title", rule_id or "") or (rule_id or "")
    severity = c.string("severity", "medium") or "medium"
    if severity not in SEVERITIES:
        c.report("severity", f"bad severity {severity!r}; expected one of {', '.join(SEVERITIES)}")
    tags = tuple(c.strings("tags"))
    keywords = tuple(c.strings("keywords"))
    regexes = tuple(c.strings("regex"))
    dets = tuple(c.strings("detector"))
    near = tuple(c.strings("near"))
    exclude = tuple(c.strings("exclude"))
    description = c.string("description", "") or ""
    fuzzy = c.integer("fuzzy", None, lo=50, hi=100)
    min_count = c.integer("min_count", 1, lo=1) or 1
    min_records = c.integer("min_records", 1, lo=1) or 1
    window = c.integer("window", DEFAULT_WINDOW, lo=1, hi=100_000) or DEFAULT_WINDOW
    enabled = c.boolean("enabled", True)
    fingerprints = c.string("fingerprints")

    for d in dets:
        if d not in detectors:
            c.report("detector", f"unknown detector {d!r}; known: {', '.join(sorted(detectors))}")
    for rx in regexes:
        err = check_regex(rx)
        if err:
            c.report("regex", f"bad regex {rx!r}: {err}")
    if fingerprints is not None:
        if not fingerprints:
            c.report("fingerprints", "fingerprints must name a fingerprint set")
        elif known_sets is not None and fingerprints not in known_sets:
            known = ", ".join(sorted(known_sets)) or "none"
            c.report("fingerprints", f"unknown fingerprint set {fingerprints!r} (known: {known})")
        if keywords or regexes or dets:
            c.report("fingerprints", "a fingerprint rule cannot also have keywords, regex or "
                    "detector; write two rules")
    elif "min_records" in table:
        c.report("min_records", "min_records only applies to a rule with fingerprints")
    if not (keywords or regexes or dets or fingerprints):
        c.report(None, "rule has no matcher: give keywords, regex, detector or fingerprints")
    if fuzzy is not None and not keywords:
        c.report("fuzzy", "fuzzy applies to keywords, and this rule has none")
    if "window" in table and not near:
        c.report("window", "window only applies with near words", "warning")
    if fingerprints and (near or exclude):
        c.report("near" if near else "exclude", "near/exclude do not apply to fingerprint rules")

    tests = _parse_tests(table.get("tests", []), c, span, lines)
    if not tests and enabled and not any(p.severity == "error" for p in c.problems):
        c.report(None, "rule has no [[rules.tests]] example", "warning")
    if any(p.severity == "error" for p in c.problems) or rule_id is None:
        return None, c.problems
    return Rule(
        id=rule_id, title=title, severity=severity, tags=tags, keywords=keywords, regex=regexes,
        fuzzy=fuzzy, detectors=dets, fingerprints=fingerprints, min_records=min_records,
        min_count=min_count, near=near, window=window, exclude=exclude, enabled=enabled,
        description=description, tests=tests, file=file, line=span[0],
    ), c.problems


def _parse_tests(raw: Any, c: _RuleTable, span: tuple[int, int], lines: _Lines) -> tuple[RuleTest, ...]:
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        c.report("tests", "tests must be written as [[rules.tests]] tables")
        return ()
    test_lines = lines.test_lines(span)
    out: list[RuleTest] = []
    for i, t in enumerate(raw):
        line = test_lines[i] if i < len(test_lines) else span[0]
        where = f"test at line {line}"

        def bad(msg: str, line: int = line) -> None:
            c.problems.append(RuleProblem(c.file, c.rule_id, line, msg))

        for key in sorted(set(t) - TEST_KEYS):
            bad(f"{where}: unknown key {key!r} (known: count, match, text)")
        text, match, count = t.get("text"), t.get("match"), t.get("count")
        if not isinstance(text, str):
            bad(f"{where}: text must be a string")
            continue
        if not isinstance(match, bool):
            bad(f"{where}: match must be true or false")
            continue
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
            bad(f"{where}: count must be a non-negative integer")
            continue
        out.append(RuleTest(text=text, match=match, count=count, line=line))
    return tuple(out)


def _similar(a: str, b: str) -> bool:
    """Cheap typo hint: same letters give or take one edit."""
    from rapidfuzz.distance import Levenshtein

    return Levenshtein.distance(a, b) <= 2 and len(b) > 3
