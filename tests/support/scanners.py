"""A stand-in for the rule engine: a substring scanner, so pipeline and daemon tests can plant
exactly the hits they need."""

from __future__ import annotations

from collections.abc import Callable

from monitor.models import Document, Hit


def keyword_scanner(word: bytes = b"LEAK") -> Callable[[Document], list[Hit]]:
    def scan(doc: Document) -> list[Hit]:
        n = doc.content.count(word)
        if not n:
            return []
        return [Hit(rule_id="test.leak", title="planted leak", severity="high", count=n,
                    excerpt="planted ***")]
    return scan
