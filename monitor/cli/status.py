"""`leakmon status` (placeholder until its owner lands it)."""

from __future__ import annotations


def register(sub) -> None:
    sub.add_parser("status", help="(not yet available)")
