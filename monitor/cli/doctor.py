"""`leakmon doctor` (placeholder until its owner lands it)."""

from __future__ import annotations


def register(sub) -> None:
    sub.add_parser("doctor", help="(not yet available)")
