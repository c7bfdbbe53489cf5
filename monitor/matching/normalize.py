"""Text folding: accent- and case-insensitive matching at Hyperscan speed.

Keywords must match however a document writes them ("Société Générale", "SOCIETE GENERALE",
"societe generale"). Expanding every letter of every keyword into an alternation of its
accented UTF-8 forms makes Hyperscan lose its literal factors (measured: 130 s to compile
1,000 keywords and 24 MB/s). Instead the *document* is folded with `bytes.translate`, which
runs in C: the Latin-1 lead byte 0xC3 is deleted and each continuation byte is mapped to its
base letter, so "Société" becomes "Societe" and keywords stay plain literals (other multi-byte
characters come out as stable, harmless byte strings; patterns are folded the same way).
Pure-ASCII documents are not copied at all. Match offsets in the folded copy are mapped back
to the original bytes (only for the few matches), and Python checks word boundaries and the
exact folded keyword there.
"""

from __future__ import annotations

import unicodedata

import numpy as np

# Letters that NFKD does not decompose but that people read as a base letter or pair.
_SPECIAL_FOLDS = {"œ": "oe", "æ": "ae", "ø": "o", "ł": "l", "đ": "d", "ß": "ss", "ı": "i",
                  "’": "'", "‘": "'"}


def fold(text: str) -> str:
    """NFKC, case-fold, strip accents and ligatures: "Cœur Société" -> "coeur societe"."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(_SPECIAL_FOLDS.get(c, c) for c in text)
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c))


def canon(text: str) -> str:
    """Folded with whitespace runs collapsed: what a keyword match is verified against."""
    return " ".join(fold(text).split())


# --- byte folding -------------------------------------------------------------------------

_LEAD = 0xC3  # UTF-8 lead byte of U+00C0..U+00FF (À..ÿ): every accented Latin-1 letter
# Two-byte ligatures replaced by their two ASCII letters (same length, so offsets hold).
_LIGATURE_BYTES = ((b"\xc5\x93", b"oe"), (b"\xc5\x92", b"OE"), (b"\xc3\xa6", b"ae"),
                   (b"\xc3\x86", b"AE"), (b"\xc3\x9f", b"ss"))


def _build_table() -> bytes:
    table = bytearray(range(256))
    for b in range(0x80, 0xC0):
        base = fold(chr(0xC0 + b - 0x80))
        if len(base) >= 1 and base[0].isascii() and base[0].isalpha():
            table[b] = ord(base[0])
    return bytes(table)


FOLD_TABLE = _build_table()


def fold_bytes(data: bytes) -> bytes:
    """The folded form of UTF-8 bytes, as Hyperscan sees documents and patterns."""
    for src, dst in _LIGATURE_BYTES:
        if src in data:
            data = data.replace(src, dst)
    return data.translate(FOLD_TABLE, bytes([_LEAD]))


class FoldedDoc:
    """A document's folded bytes and the map from folded offsets back to original ones."""

    __slots__ = ("_shift", "data", "folded")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._shift: np.ndarray | None = None
        if data.isascii():
            self.folded = data  # nothing to fold: no copy, offsets are the same
            return
        pre = data
        for src, dst in _LIGATURE_BYTES:
            if src in pre:
                pre = pre.replace(src, dst)
        self.folded = pre.translate(FOLD_TABLE, bytes([_LEAD]))
        if len(self.folded) != len(pre):
            deleted = np.flatnonzero(np.frombuffer(pre, dtype=np.uint8) == _LEAD)
            # folded offset at which each deleted byte would have been
            self._shift = deleted - np.arange(len(deleted))

    @property
    def identity(self) -> bool:
        return self._shift is None

    def start(self, f: int) -> int:
        """Original offset of a match starting at folded offset `f` (before its lead byte)."""
        if self._shift is None:
            return f
        o = f + int(np.searchsorted(self._shift, f, side="right"))
        if o > 0 and self.data[o - 1] == _LEAD:
            o -= 1
        return o

    def end(self, f: int) -> int:
        """Original offset of a match ending (exclusive) at folded offset `f`."""
        if self._shift is None:
            return f
        return f + int(np.searchsorted(self._shift, f, side="left"))

    def spans(self, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Map many (start, end) spans at once."""
        if self._shift is None or not spans:
            return spans
        arr = np.asarray(spans, dtype=np.int64)
        starts = arr[:, 0] + np.searchsorted(self._shift, arr[:, 0], side="right")
        ends = arr[:, 1] + np.searchsorted(self._shift, arr[:, 1], side="left")
        data = self.data
        out = []
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            if s > 0 and data[s - 1] == _LEAD:
                s -= 1
            out.append((s, e))
        return out


# --- keyword patterns ---------------------------------------------------------------------

def hs_escape(data: bytes) -> bytes:
    """Bytes as a Hyperscan literal (every non-alphanumeric byte escaped)."""
    out = bytearray()
    for b in data:
        if 0x30 <= b <= 0x39 or 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A:
            out.append(b)
        else:
            out += b"\\x%02x" % b
    return bytes(out)


def _alternatives(chars: tuple[str, ...]) -> bytes:
    alts = sorted({hs_escape(fold_bytes(c.encode("utf-8"))) for c in chars})
    return b"(?:" + b"|".join(alts) + b")"


# How whitespace and apostrophes look after folding (NBSP and ’ are multi-byte).
_WHITESPACE = _alternatives((" ", "\t", "\n", "\r", "\u00a0", "\u202f")) + b"+"
_APOSTROPHE = _alternatives(("'", "’"))


def keyword_pattern(keyword: str) -> bytes:
    """Hyperscan pattern (use with HS_FLAG_CASELESS, on folded documents) for `keyword`.

    Whitespace in the keyword matches any run of whitespace (also no-break spaces), an
    apostrophe matches ' and ’. Raises ValueError for a keyword with nothing to match.
    """
    folded = canon(keyword)
    if not folded:
        raise ValueError("empty keyword")
    out = bytearray()
    for ch in folded:
        if ch == " ":
            out += _WHITESPACE
        elif ch == "'":
            out += _APOSTROPHE
        else:
            out += hs_escape(fold_bytes(ch.encode("utf-8")))
    return bytes(out)


# --- word boundaries (checked on the original bytes) --------------------------------------

def is_word_char(ch: str) -> bool:
    """Letters, digits and underscore count as word characters (Unicode aware)."""
    return ch.isalnum() or ch == "_"


def char_before(data: bytes, pos: int) -> str:
    """The character that ends just before byte offset `pos` ('' at the start)."""
    if pos <= 0:
        return ""
    start = pos - 1
    while start > 0 and pos - start < 4 and (data[start] & 0xC0) == 0x80:
        start -= 1
    return data[start:pos].decode("utf-8", "replace")[-1:]


def char_after(data: bytes, pos: int) -> str:
    """The character that starts at byte offset `pos` ('' at the end)."""
    if pos >= len(data):
        return ""
    b = data[pos]
    length = 1 if b < 0xC0 else 2 if b < 0xE0 else 3 if b < 0xF0 else 4
    return data[pos:pos + length].decode("utf-8", "replace")[:1]


def edges_are_words(keyword: str) -> tuple[bool, bool]:
    """Whether the keyword starts / ends with a word character (then that side needs a
    word boundary in the document)."""
    folded = canon(keyword)
    if not folded:
        return False, False
    return is_word_char(folded[0]), is_word_char(folded[-1])


def at_boundaries(data: bytes, start: int, end: int, left: bool = True, right: bool = True) -> bool:
    """True when the match data[start:end] is not glued to a word character on the sides
    that need it. "dedalus-biologie.fr" in "x@dedalus-biologie.fr" passes; "dedalus" in
    "dedalusx" does not."""
    if left and is_word_char(char_before(data, start)):
        return False
    return not (right and is_word_char(char_after(data, end)))
