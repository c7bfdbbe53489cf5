"""A bulk rule gives the same answer whatever other rules are loaded.

A detector used only by min_count >= 2 rules is scanned apart, chunk by chunk, and stops once
its rules are proven; loaded next to a min_count = 1 rule it runs in the main database. Both
paths must agree on whether the rule fires: the threshold is met by distinct values.
"""

from __future__ import annotations

import pytest
from _idgen import cards

from monitor.matching.engine import BULK_CHUNK, Engine
from monitor.matching.rules import Rule

BULK = Rule(id="bulk.card", title="20+ cards", detectors=("card",), min_count=20)
ONE = Rule(id="one.card", title="a card", detectors=("card",), min_count=1)


def _fires(rules: list[Rule], text: str) -> bool:
    return any(h.rule_id == "bulk.card" for h in Engine.build(rules).scan_text(text))


def _layouts() -> list[tuple[str, str]]:
    cs = cards(25)
    repeated = "".join(f"id {cs[0]}\n" for _ in range(30))
    distinct = "".join(f"id {c}\n" for c in cs[1:])
    few = "".join(f"id {c}\n" for c in cs[:19])
    pad = "log line without numbers\n" * (BULK_CHUNK // 25 + 10)
    return [
        ("repeated-first-then-distinct", repeated + distinct),
        ("large-repeated-first-then-distinct", pad + repeated + distinct),
        ("large-distinct-then-repeated", pad + distinct + repeated),
        ("large-19-distinct-repeated", pad + few * 5),
        ("19-distinct-repeated", few * 5),
    ]


@pytest.mark.parametrize("text", [t for _, t in _layouts()], ids=[n for n, _ in _layouts()])
def test_bulk_rule_answer_does_not_depend_on_other_rules(text):
    assert _fires([BULK], text) == _fires([BULK, ONE], text)


def test_bulk_rule_fires_on_twenty_distinct_values_after_one_repeated():
    name, text = _layouts()[1]
    assert _fires([BULK], text), name
    assert not _fires([BULK], _layouts()[3][1])
