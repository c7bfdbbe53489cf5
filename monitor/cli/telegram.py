"""`leakmon telegram` (placeholder until its owner lands it)."""

from __future__ import annotations


def register(sub) -> None:
    sub.add_parser("telegram", help="(not yet available)")
