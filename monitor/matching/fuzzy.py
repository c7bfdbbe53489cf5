"""Misspelt and obfuscated keyword variants, found by Hyperscan, confirmed with rapidfuzz.

Two kinds of variant, both compiled into the engine's single database so that fuzzy rules
add no per-token Python work:

- obfuscation: every letter may be written with its leetspeak substitutes, and the letters
  may all be separated by one separator ("d3dalus", "D.E.D.A.L.U.S", "d-e-d-a-l-u-s");
- misspelling: Hyperscan's approximate matching (extended parameter `edit_distance`) on the
  folded keyword; each candidate is then scored with rapidfuzz against the rule's `fuzzy`
  threshold, so the threshold, not the edit distance, decides.

Splitting keywords into d + 1 exact pieces (pigeonhole) was tried instead of approximate
matching and was slower on real text: organization names are made of common words
("Santé", "Conseil", "Biologie") whose pieces hit constantly (19 vs ~200 MB/s, 10 keywords).
"""

from __future__ import annotations

from monitor.matching.normalize import canon, char_after, char_before, fold, hs_escape, is_word_char

# Substitutes seen in obfuscated leak posts. Kept small: every extra class widens matches.
LEET: dict[str, str] = {
    "a": "4@", "b": "8", "e": "3", "g": "96", "i": "1!|", "l": "1|", "o": "0", "s": "5$",
    "t": "7+", "z": "2",
}
# Separators an obfuscator puts between every letter ("D.E.D.A.L.U.S", "d-e-d-a-l-u-s").
# One pattern per separator, the same one between all letters: a pattern allowing any mix
# of optional separators has no literal factors and ran 10x slower (345 vs 4,100 MB/s).
SEPARATORS: tuple[bytes, ...] = (b"", rb"\.", rb"\-", rb"_", rb"\x20", rb"\*", rb"\xc2\xb7", rb"\x20\-\x20")
MIN_FUZZY_LETTERS = 5  # shorter keywords get no fuzzy variants: too many false positives
MAX_EDIT_DISTANCE = 2


def _letter(c: str) -> bytes:
    alts = [c, *LEET.get(c, "")]
    if len(alts) == 1:
        return hs_escape(c.encode("utf-8"))
    return b"[" + b"".join(hs_escape(a.encode()) for a in alts) + b"]"


_WORD_GAP = rb"(?:[\s.\-_*]|\xc2\xb7){1,3}"  # between the words of a multi-word keyword


def leet_patterns(keyword: str) -> list[bytes]:
    """Hyperscan patterns (HS_FLAG_CASELESS) for leet spellings of `keyword`, plain and with
    each separator between every letter; [] for keywords shorter than MIN_FUZZY_LETTERS."""
    words = ["".join(c for c in w if c.isalnum()) for w in canon(keyword).split(" ")]
    words = [w for w in words if w]
    if sum(map(len, words)) < MIN_FUZZY_LETTERS:
        return []
    out = []
    for sep in SEPARATORS:
        out.append(_WORD_GAP.join(sep.join(_letter(c) for c in w) for w in words))
    return out


def edit_distance_for(keyword: str, threshold: int) -> int:
    """Largest Levenshtein distance a variant can have and still score >= `threshold` with
    rapidfuzz's ratio (best case: insertions only, ratio 1 - k / (2n + k)), capped at
    MAX_EDIT_DISTANCE. rapidfuzz then decides on the real score."""
    n = len(canon(keyword))
    if n < MIN_FUZZY_LETTERS:
        return 0
    d = 0
    for k in range(1, MAX_EDIT_DISTANCE + 1):
        if 100.0 * (1 - k / (2 * n + k)) >= threshold and n - k >= MIN_FUZZY_LETTERS - 1:
            d = k
    return d


def approx_pattern(keyword: str) -> bytes:
    """The folded keyword as an escaped literal for approximate matching."""
    return hs_escape(canon(keyword).encode("utf-8"))


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
    import rapidfuzz.fuzz  # imported on first use: not at start-up

    return rapidfuzz.fuzz.ratio(comparable(candidate), comparable(keyword))



MAX_WORD_GROWTH = 16  # bytes a candidate may grow by to reach its word's edges


def word_span(data: bytes, start: int, end: int, left: bool, right: bool) -> tuple[int, int] | None:
    """The span of the whole word(s) an edit-distance match landed on, or None.

    Hyperscan reports the leftmost start within the edit distance, which may lie on the
    space before the word ("labo Daedalus" starts at " Daedalus", then glued to "labo"), or
    mid-word. So the match is trimmed of non-word edges and widened to its word's edges on
    the sides where the keyword needs a boundary; the caller scores that word."""
    while start < end and not is_word_char(char_after(data, start)):
        start += len(char_after(data, start).encode("utf-8")) or 1
    while end > start and not is_word_char(char_before(data, end)):
        end -= len(char_before(data, end).encode("utf-8")) or 1
    if start >= end:
        return None
    s, e = start, end
    while left and s > 0 and is_word_char(c := char_before(data, s)):
        s -= len(c.encode("utf-8"))
        if start - s > MAX_WORD_GROWTH:
            return None
    while right and e < len(data) and is_word_char(c := char_after(data, e)):
        e += len(c.encode("utf-8"))
        if e - end > MAX_WORD_GROWTH:
            return None
    return s, e
