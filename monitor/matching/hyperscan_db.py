"""One Hyperscan database for every pattern of every rule, scanned once per document.

The engine hands over a flat list of `Pattern`s (keywords, regexes, fuzzy variants, detector
candidates, context words); the scanner compiles them into a single block-mode database and
returns the raw matches bucketed by pattern. Python never walks the bytes itself.
Each thread gets its own Hyperscan scratch space, so concurrent `scan` calls are safe.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import hyperscan

from monitor.errors import RuleFileError
from monitor.matching import hscache

CASELESS = hyperscan.HS_FLAG_CASELESS
SOM = hyperscan.HS_FLAG_SOM_LEFTMOST
SINGLEMATCH = hyperscan.HS_FLAG_SINGLEMATCH
MULTILINE = hyperscan.HS_FLAG_MULTILINE
UTF8 = hyperscan.HS_FLAG_UTF8
PREFILTER = hyperscan.HS_FLAG_PREFILTER

MAX_MATCHES_PER_PATTERN = 50_000  # offsets kept per pattern and document; the rest counted


@dataclass(slots=True, frozen=True)
class Pattern:
    """One Hyperscan expression. `edit_distance` > 0 turns on approximate matching."""

    expression: bytes
    flags: int = 0
    edit_distance: int = 0
    label: str = ""  # what it is for, used in error messages ("rule org.x keyword 2")


def _ext(p: Pattern) -> tuple[int, int, int, int, int, int]:
    if p.edit_distance:
        return (hyperscan.HS_EXT_FLAG_EDIT_DISTANCE, 0, 0, 0, p.edit_distance, 0)
    return (0, 0, 0, 0, 0, 0)


def _compile(patterns: Sequence[Pattern], *, cached: bool = False,
             key: bytes | None = None) -> tuple[hyperscan.Database, bytes | None]:
    """Compile `patterns` (ids = their indexes); with `cached`, through the disk cache
    (`key`: the entry's key when known). Returns the database and its cache key."""
    mode = hyperscan.HS_MODE_BLOCK
    expressions = [p.expression for p in patterns]
    ids = list(range(len(patterns)))
    flags = [p.flags for p in patterns]
    ext = [_ext(p) for p in patterns] if any(p.edit_distance for p in patterns) else None

    def build() -> hyperscan.Database:
        db = hyperscan.Database(mode=mode)
        db.compile(expressions=expressions, ids=ids, flags=flags, ext=ext)
        return db

    if cached:
        return hscache.load_or_compile(expressions, ids, flags, ext, mode, build, key=key)
    return build(), None


def compile_error(pattern: Pattern) -> str | None:
    """Hyperscan's complaint about one pattern, or None when it compiles."""
    try:
        _compile([pattern])
    except hyperscan.error as e:
        return str(e)
    return None


class Scanner:
    """A compiled database and its per-thread scratch spaces."""

    def __init__(self, patterns: Sequence[Pattern], *, cache_key: bytes | None = None) -> None:
        """`cache_key`: the disk cache's key for these patterns when the caller kept it
        (rulecache.py), so they are not hashed again; `self.cache_key` is the key used."""
        self.patterns = list(patterns)
        self._local = threading.local()
        self._db: hyperscan.Database | None = None
        self.cache_key: bytes | None = None
        if not self.patterns:
            return
        try:
            self._db, self.cache_key = _compile(self.patterns, cached=True, key=cache_key)
        except hyperscan.error as e:
            # Name the culprit: the combined error does not say which expression failed.
            for p in self.patterns:
                err = compile_error(p)
                if err:
                    raise RuleFileError(f"{p.label or p.expression!r}: Hyperscan cannot compile "
                                        f"this pattern: {err}") from None
            raise RuleFileError(f"Hyperscan cannot compile the rule set: {e}") from None

    def _scratch(self) -> hyperscan.Scratch:
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = hyperscan.Scratch(self._db)
            self._local.scratch = scratch
        return scratch

    def scan(self, data: bytes) -> tuple[dict[int, list[tuple[int, int]]], dict[int, int]]:
        """Every match of every pattern in `data`, bucketed by pattern index as (start, end)
        (start is 0 for patterns compiled without SOM), and per pattern the number of
        matches past MAX_MATCHES_PER_PATTERN that were only counted (a hostile document of
        one repeated word must not turn into gigabytes of offsets). Bucketing happens in the
        callback: a second pass over the matches would double the per-match Python cost."""
        if self._db is None or not data:
            return {}, {}
        # plain dicts (most documents match nothing: no defaultdict to make for them)
        buckets: dict[int, list[tuple[int, int]]] = {}
        overflow: dict[int, int] = {}
        cap = MAX_MATCHES_PER_PATTERN

        def on_match(pid: int, start: int, end: int, flags: int, context: object) -> None:
            bucket = buckets.get(pid)
            if bucket is None:
                bucket = buckets[pid] = []
            if len(bucket) < cap:
                bucket.append((start, end))
            else:
                overflow[pid] = overflow.get(pid, 0) + 1

        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._scratch()
        self._db.scan(data, match_event_handler=on_match, scratch=scratch)
        return buckets, overflow


# --- operator regexes ---------------------------------------------------------------------

@dataclass(slots=True, frozen=True)
class RegexPlan:
    """How one operator regex is run.

    mode "hs": Hyperscan finds it with start offsets, no Python at all.
    mode "py": Hyperscan cannot run it exactly (lookaround, back-references, or no start
    offsets); a Hyperscan trigger (exact without offsets, or PREFILTER superset, reporting
    once) tells when Python `re` must confirm it on the document.
    """

    pattern: Pattern
    mode: str
    python: re.Pattern[str] | None = None


def plan_regex(expr: str, label: str = "") -> RegexPlan | str:
    """A RegexPlan for `expr`, or an error message naming what is wrong with it."""
    try:
        python = re.compile(expr, re.MULTILINE)
        py_err = None
    except re.error as e:
        python, py_err = None, str(e)
    raw = expr.encode("utf-8")
    base = MULTILINE if expr.isascii() else MULTILINE | UTF8
    exact = Pattern(raw, base | SOM, label=label)
    hs_err = compile_error(exact)
    if hs_err is None:
        if python is not None and python.search("") is not None:
            return "regex matches the empty string"
        return RegexPlan(exact, "hs", python)
    if "empty buffer" in hs_err:
        return "regex matches the empty string"
    if python is None:
        return f"{py_err} (Hyperscan: {hs_err})"
    if python.search("") is not None:
        return "regex matches the empty string"
    for flags in (base | SINGLEMATCH, base | SINGLEMATCH | PREFILTER):
        trigger = Pattern(raw, flags, label=label)
        if compile_error(trigger) is None:
            return RegexPlan(trigger, "py", python)
    return f"Hyperscan cannot compile it even as a prefilter: {hs_err}"


def check_regex(expr: str) -> str | None:
    """Error message for an unusable operator regex, else None (used by `rules check`)."""
    plan = plan_regex(expr)
    return plan if isinstance(plan, str) else None
