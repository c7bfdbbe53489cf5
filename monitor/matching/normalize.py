"""Accent- and case-insensitive keywords at Hyperscan's literal speed.

Keywords must match however a document writes them ("Société Générale", "SOCIETE GENERALE",
"societe generale"). Two designs were measured on French text with 1,000 keywords:

- every letter expanded into an alternation of its accented UTF-8 forms: Hyperscan loses its
  literal factors (130 s to compile, 24 MB/s);
- folding the document with `bytes.translate` and mapping offsets back: ~250 MB/s end to end,
  the translation and the offset map costing more than the scan itself.

So each keyword becomes a handful of plain literals instead (HS_FLAG_CASELESS folds ASCII
case): its accent-free form, and, when it has accents, the way it is typed in lower case,
UPPER CASE and Title Case (NFC and NFD). Documents are scanned as they are. The cost is one
blind spot, documented for rule writers: a keyword typed WITHOUT its accents does not find
text written WITH them; write names with their accents.
"""

from __future__ import annotations

import unicodedata

# Letters that NFKD does not decompose but that people read as a base letter or pair.
_SPECIAL_FOLDS = {"œ": "oe", "æ": "ae", "ø": "o", "ł": "l", "đ": "d", "ß": "ss", "ı": "i",
                  "’": "'", "‘": "'"}


_SPECIAL_TABLE = str.maketrans(_SPECIAL_FOLDS)


def fold(text: str) -> str:
    """NFKC, case-fold, strip accents and ligatures: "Cœur Société" -> "coeur societe"."""
    if text.isascii():  # NFKC and NFKD leave ASCII alone, and nothing in it combines
        return text.lower()
    text = unicodedata.normalize("NFKC", text).casefold().translate(_SPECIAL_TABLE)
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c))


def canon(text: str) -> str:
    """Folded with whitespace runs collapsed: the identity of a keyword or context word."""
    return " ".join(fold(text).split())


# --- keyword patterns ---------------------------------------------------------------------

_HS_LITERAL = [bytes([b]) if 0x30 <= b <= 0x39 or 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A
               else b"\\x%02x" % b for b in range(256)]


def hs_escape(data: bytes) -> bytes:
    """Bytes as a Hyperscan literal (every non-alphanumeric byte escaped)."""
    return b"".join(map(_HS_LITERAL.__getitem__, data))


# A space in a keyword matches ONE whitespace character (space, tab, newline, no-break
# spaces); `\s+` would make Hyperscan verify every literal factor with an NFA (measured
# 4,200 -> 600 MB/s for 1,000 keywords). An apostrophe matches ' and ’.
_WHITESPACE = rb"(?:[\t\n\r ]|\xc2\xa0|\xe2\x80\xaf)"
_APOSTROPHE = rb"(?:'|\xe2\x80\x99)"


def literal_pattern(text: str) -> bytes:
    """`text` as a Hyperscan literal; spaces and apostrophes as in keywords."""
    return b"".join(_WHITESPACE if ch == " " else _APOSTROPHE if ch in "'’"
                    else hs_escape(ch.encode("utf-8")) for ch in text)


def keyword_variants(keyword: str) -> list[str]:
    """The spellings one keyword is searched as (ASCII case is left to CASELESS)."""
    typed = " ".join(unicodedata.normalize("NFC", keyword).split())
    variants = [canon(keyword)]
    if not typed.isascii():
        for form in (typed, typed.lower(), typed.upper(), typed.title()):
            variants.append(form)
            variants.append(unicodedata.normalize("NFD", form))
    out: list[str] = []
    for v in variants:
        if v and v not in out:
            out.append(v)
    return out


def keyword_patterns(keyword: str) -> list[bytes]:
    """Hyperscan literals (use with HS_FLAG_CASELESS) for every variant of `keyword`.
    Raises ValueError for a keyword with nothing to match."""
    if not canon(keyword):
        raise ValueError("empty keyword")
    return list(dict.fromkeys(literal_pattern(v) for v in keyword_variants(keyword)))


# --- word boundaries (checked on the original bytes) --------------------------------------

def is_word_char(ch: str) -> bool:
    """Letters, digits and underscore count as word characters (Unicode aware)."""
    return ch.isalnum() or ch == "_"


_ASCII_WORD = bytes(1 if (chr(b).isalnum() or b == 0x5F) else 0 for b in range(128))


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
    "dedalusx" does not. ASCII neighbours are decided by a table lookup, others decoded."""
    if left and start > 0:
        b = data[start - 1]
        if (_ASCII_WORD[b] if b < 0x80 else is_word_char(char_before(data, start))):
            return False
    if right and end < len(data):
        b = data[end]
        if (_ASCII_WORD[b] if b < 0x80 else is_word_char(char_after(data, end))):
            return False
    return True
