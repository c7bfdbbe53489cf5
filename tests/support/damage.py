"""Damaged copies of a cache file, the ways a disk, a crash or a hand can leave one."""

from __future__ import annotations

from pathlib import Path

DAMAGES = ("flip", "truncate", "garbage", "empty")


def damage(path: Path, how: str) -> bytes:
    """Write `path` back damaged `how` (one of DAMAGES) and return what was written."""
    raw = bytearray(path.read_bytes())
    if how == "flip":
        raw[len(raw) // 2] ^= 0xFF
    elif how == "truncate":
        raw = raw[: len(raw) // 2]
    elif how == "garbage":
        raw = bytearray(b"\xdb" * len(raw))
    elif how == "empty":
        raw = bytearray()
    else:
        raise ValueError(f"unknown damage {how!r}")
    path.write_bytes(bytes(raw))
    return bytes(raw)
