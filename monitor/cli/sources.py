"""`leakmon sources` (placeholder until its owner lands it)."""

from __future__ import annotations


def register(sub) -> None:
    sub.add_parser("sources", help="(not yet available)")
