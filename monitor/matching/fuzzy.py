"""Misspelt and obfuscated keyword variants, found by Hyperscan, confirmed with rapidfuzz.

Two kinds of variant, both compiled into the engine's single database so that fuzzy rules
add no per-token Python work:

- obfuscation: every letter may be written with its leetspeak substitutes and separated from
  the next by a few separator characters ("d3dalus", "D.E.D.A.L.U.S", "d-e-d-a-l-u-s");
- misspelling: Hyperscan's approximate matching (extended parameter `edit_distance`) on the
  folded keyword; each candidate is then scored with rapidfuzz against the rule's `fuzzy`
  threshold, so the threshold, not the edit distance, decides.
"""

from __future__ import annotations

from rapidfuzz import fuzz

from monitor.matching.normalize import canon, fold, fold_bytes, hs_escape

# Substitutes seen in obfuscated leak posts. Kept small: every extra class widens matches.
LEET: dict[str, str] = {
    "a": "4@", "b": "8", "e": "3", "g": "96", "i": "1!|", "l": "1|", "o": "0", "s": "5$",
    "t": "7+", "z": "2",
}
# Up to two separators between letters: . - _ * , / \ | · or whitespace.
_SEPARATOR = rb"(?:[\s.\-_*,/\\|]|\xc2\xb7){0,2}"
MIN_FUZZY_LETTERS = 5  # shorter keywords get no fuzzy variants: too many false positives
MAX_EDIT_DISTANCE = 2


def _letter(c: str) -> bytes:
    alts = [c, *LEET.get(c, "")]
    if len(alts) == 1:
        return hs_escape(fold_bytes(c.encode("utf-8")))
    return b"[" + b"".join(hs_escape(a.encode()) for a in alts) + b"]"


def leet_pattern(keyword: str) -> bytes | None:
    """Hyperscan pattern (HS_FLAG_CASELESS, folded documents) for leet/separated spellings
    of `keyword`; None for keywords shorter than MIN_FUZZY_LETTERS letters."""
    folded = "".join(c for c in fold(keyword) if c.isalnum())
    if len(folded) < MIN_FUZZY_LETTERS:
        return None
    return _SEPARATOR.join(_letter(c) for c in folded)


def edit_distance_for(keyword: str, threshold: int) -> int:
    """Largest edit distance a variant can have and still score >= `threshold` with
    rapidfuzz's ratio (best case: deletions only), capped at MAX_EDIT_DISTANCE."""
    n = len(canon(keyword))
    if n < MIN_FUZZY_LETTERS:
        return 0
    d = 0
    for k in range(1, MAX_EDIT_DISTANCE + 1):
        if 100.0 * (1 - k / (2 * n - k)) >= threshold and n - k >= MIN_FUZZY_LETTERS - 1:
            d = k
    return d


def approx_pattern(keyword: str) -> bytes:
    """The folded keyword as an escaped literal for approximate matching."""
    return hs_escape(fold_bytes(canon(keyword).encode("utf-8")))


def comparable(text: str) -> str:
    """Folded text with separators dropped, for scoring."""
    out = []
    for c in fold(text):
        if c.isalnum():
            out.append(c)
        elif c == " ":
            out.append(" ")
    return " ".join("".join(out).split())


def score(candidate: str, keyword: str) -> float:
    """rapidfuzz similarity 0..100 of a candidate span and a keyword, both folded."""
    return fuzz.ratio(comparable(candidate), comparable(keyword))
