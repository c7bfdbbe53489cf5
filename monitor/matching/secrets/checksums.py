"""Checksums embedded in tokens: GitHub's and npm's base62 CRC32 suffix."""

from __future__ import annotations

import zlib

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def base62(n: int, width: int = 6) -> str:
    out = []
    while n:
        n, r = divmod(n, 62)
        out.append(BASE62[r])
    return "".join(reversed(out)).rjust(width, "0")


def crc32_base62(body: str) -> str:
    """The six-character suffix GitHub (ghp_...) and npm (npm_...) append: CRC32 of the
    random part, in base62, zero-padded (github.blog, 2021-04-05 token formats)."""
    return base62(zlib.crc32(body.encode("ascii")))


def crc32_suffix_ok(token: str) -> bool:
    """`token` without its prefix: 30 random characters then their 6-character checksum."""
    return len(token) > 6 and token.isascii() and crc32_base62(token[:-6]) == token[-6:]
