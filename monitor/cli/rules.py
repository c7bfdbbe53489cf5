"""`leakmon rules check` and `leakmon rules test`: lint rule files and run their examples."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from monitor.cli._context import Context
from monitor.matching.rules import RuleSet, load_rules
from monitor.paths import resolve_state_dir

if TYPE_CHECKING:
    from monitor.cli import Commands

RULES_EPILOG = """\
examples:
  leakmon rules check rules/                      lint every *.toml under rules/
  leakmon rules check --fingerprint-set patients my-rules.toml
  leakmon rules test rules/ my-rules.toml         run the [[rules.tests]] examples
  leakmon rules test --json rules/ | jq .

A problem is printed as FILE:LINE: rule ID: message. Exit status: 0 when every file is
usable (warnings allowed) and every example passes, 1 otherwise.
"""

CHECK_EPILOG = """\
Reports TOML syntax errors, unknown or misspelt keys, wrong types, bad severities, regexes
that neither Hyperscan nor Python can run, unknown detectors, duplicate rule ids (also across
files), rules with no matcher, and fingerprint sets that do not exist. Set names are checked
when --fingerprint-set is given or the state directory holds fingerprint sets.

examples:
  leakmon rules check rules/
  leakmon rules check --json rules/ org.toml
  leakmon --state-dir /var/lib/leakmon rules check /etc/leakmon/rules/
"""

TEST_EPILOG = """\
Each [[rules.tests]] example (text, match = true|false, optional count) is scanned with the
compiled engine; a failure names the file, the rule and the line of the example. Examples of
disabled rules run too; fingerprint rules are skipped (their sets are not loaded here).

examples:
  leakmon rules test rules/
  leakmon rules test --json rules/organization.example.toml
"""


def register(sub: Commands) -> None:
    p = sub.add_parser("rules", help="check rule files and run their embedded examples",
                       description="Lint rule files and run the examples embedded in them.",
                       epilog=RULES_EPILOG)
    rsub = sub.subcommands(p, dest="rules_command", title="subcommands")

    c = rsub.add_parser("check", help="report every problem in rule files (file, rule, line)",
                        description="Report every problem in rule files and folders.",
                        epilog=CHECK_EPILOG)
    c.add_argument("paths", nargs="+", metavar="PATH", help="rule file or folder (*.toml, recursive)")
    c.add_argument("--fingerprint-set", action="append", default=[], metavar="NAME",
                   help="a fingerprint set name rules may use (repeatable)")
    c.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    c.set_defaults(func=cmd_check)

    t = rsub.add_parser("test", help="run the [[rules.tests]] examples of rule files",
                        description="Run the examples embedded in rule files.",
                        epilog=TEST_EPILOG)
    t.add_argument("paths", nargs="+", metavar="PATH", help="rule file or folder (*.toml, recursive)")
    t.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    t.set_defaults(func=cmd_test)


def _known_sets(ctx: Context, names: list[str]) -> set[str] | None:
    """Set names to check rules against: the given ones plus those in the state directory
    (looked at, never created). None when there is nothing to check against."""
    known = set(names)
    state = resolve_state_dir(ctx.state_dir_arg, ctx.config.state_dir)
    found_store = False
    try:
        from monitor.matching.fingerprints import list_sets
        from monitor.matching.fingerprints.storage import sets_root

        if sets_root(state).is_dir():
            found_store = True
            known.update(info.name for info in list_sets(state))
    except ImportError:  # fingerprints not installed in this build
        pass
    return known if (names or found_store) else None


def _summary(rs: RuleSet) -> str:
    n_err, n_warn = len(rs.errors), len(rs.problems) - len(rs.errors)
    files = f"{len(rs.files)} file{'s' if len(rs.files) != 1 else ''}"
    rules = f"{len(rs.rules)} rule{'s' if len(rs.rules) != 1 else ''}"
    warn = f", {n_warn} warning{'s' if n_warn != 1 else ''}" if n_warn else ""
    if n_err:
        return (f"{n_err} error{'s' if n_err != 1 else ''}{warn}; {rules} usable in {files}")
    return f"{rules} in {files} OK{warn}"


def cmd_check(ctx: Context, args: argparse.Namespace) -> int:
    ruleset = load_rules(args.paths, known_fingerprint_sets=_known_sets(ctx, args.fingerprint_set))
    if args.json:
        print(json.dumps({
            "ok": ruleset.ok, "files": ruleset.files, "rules": len(ruleset.rules),
            "errors": len(ruleset.errors), "warnings": len(ruleset.problems) - len(ruleset.errors),
            "problems": [p.to_json() for p in ruleset.problems],
        }, indent=2))
    else:
        for p in ruleset.problems:
            print(p.format())
        print(_summary(ruleset))
    return 0 if ruleset.ok else 1


def cmd_test(ctx: Context, args: argparse.Namespace) -> int:
    from monitor.matching.ruletests import run_rule_tests

    ruleset = load_rules(args.paths)
    region = ctx.config.matching.phone_region
    results = run_rule_tests(ruleset, phone_region=region)
    counts = {s: sum(1 for r in results if r.status == s) for s in ("passed", "failed", "skipped")}
    ok = ruleset.ok and counts["failed"] == 0
    if args.json:
        print(json.dumps({
            "ok": ok, **counts, "rules": len(ruleset.rules),
            "problems": [p.to_json() for p in ruleset.errors],
            "results": [r.to_json() for r in results],
        }, indent=2))
        return 0 if ok else 1
    for p in ruleset.errors:
        print(p.format())
    for r in results:
        if r.status != "passed":
            print(r.format())
    untested = sum(1 for r in ruleset.rules if not r.tests)
    line = f"{counts['passed']} passed, {counts['failed']} failed"
    if counts["skipped"]:
        line += f", {counts['skipped']} skipped"
    line += f" ({len(ruleset.rules)} rule{'s' if len(ruleset.rules) != 1 else ''}"
    line += f", {untested} without examples)" if untested else ")"
    if ruleset.errors:
        line += f"; {len(ruleset.errors)} rule file error(s): fix them with `leakmon rules check`"
    print(line)
    return 0 if ok else 1
