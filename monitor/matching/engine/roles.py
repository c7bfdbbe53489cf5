"""What each compiled pattern is for: one small record per Hyperscan pattern (its *role*).

A rule's text patterns (keywords and their leet and fuzzy variants, operator regexes) each
carry a role that turns the pattern's raw Hyperscan matches into confirmed spans; detector
triggers carry the detector's name, since a detector validates all of its triggers' matches
at once (`ScanState.detector`). Context words (near/exclude) are `ContextWord`s of their own
database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from monitor.matching import fuzzy
from monitor.matching.normalize import at_boundaries
from monitor.matching.rules import Rule

if TYPE_CHECKING:
    from monitor.matching.engine.evaluate import ScanState

Span = tuple[int, int, str | None]  # start, end, detector value (None for text matches)
Matches = list[tuple[int, int]]  # raw (start, end) matches of one pattern


@dataclass(slots=True, frozen=True)
class KeywordRole:
    """A keyword variant or leet form: a match counts on word boundaries (`left`/`right`
    say whether the keyword's first/last character is a word character)."""

    left: bool
    right: bool

    def spans(self, state: ScanState, matches: Matches) -> list[Span]:
        data = state.data
        return [(s, e, None) for s, e in matches
                if at_boundaries(data, s, e, self.left, self.right)]


@dataclass(slots=True, frozen=True)
class FuzzyRole:
    """An edit-distance candidate of `keyword`: the word around it is scored with rapidfuzz
    and counts at `threshold` (0-100) or above."""

    keyword: str
    threshold: int
    left: bool
    right: bool

    def spans(self, state: ScanState, matches: Matches) -> list[Span]:
        data = state.data
        out: list[Span] = []
        for s0, e0 in matches:
            span = fuzzy.word_span(data, s0, e0, self.left, self.right)
            if span is not None:
                s, e = span
                if fuzzy.score(data[s:e].decode("utf-8", "replace"), self.keyword) \
                        >= self.threshold:
                    out.append((s, e, None))
        return out


@dataclass(slots=True, frozen=True)
class RegexRole:
    """An operator regex Hyperscan runs exactly, start offsets included."""

    def spans(self, state: ScanState, matches: Matches) -> list[Span]:
        return [(s, e, None) for s, e in matches]


@dataclass(slots=True, frozen=True)
class TriggerRole:
    """The Hyperscan trigger of an operator regex it cannot run exactly: when it fires,
    Python `re` confirms `regex` on the decoded document."""

    regex: re.Pattern[str]

    def spans(self, state: ScanState, matches: Matches) -> list[Span]:
        return state.python_matches(self.regex)


@dataclass(slots=True, frozen=True)
class DetectorRole:
    """A trigger of detector `name` (end offsets only; validated by the detector)."""

    name: str


TextRole = KeywordRole | FuzzyRole | RegexRole | TriggerRole
Role = TextRole | DetectorRole


@dataclass(slots=True, frozen=True)
class ContextWord:
    """A `near`/`exclude` word: its pattern indexes in the word database, and whether its
    edges are word characters (for the boundary check)."""

    pids: tuple[int, ...]
    left: bool
    right: bool


@dataclass(slots=True)
class CompiledRule:
    """One rule and the indexes of what serves it: its text patterns in the main database,
    its context words (near/exclude) in the word database."""

    rule: Rule
    pids: list[int] = field(default_factory=list)
    near: tuple[int, ...] = ()
    exclude: tuple[int, ...] = ()
