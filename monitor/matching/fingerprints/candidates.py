"""Finding, in a document's bytes, the values that could be fields of our records.

The text is cut into rows (lines; `),(` and `},{` between records of SQL extended INSERTs and
one-line JSON arrays; the member lines of pretty-printed JSON objects are joined). Then one pass
in C (`_native.CandidateReader`, see native/reader.c) reads and hashes every candidate:

- runs of digits with optional ` .-` separators (up to 41 digits, not glued to a letter): as a
  phone (E.164 for the set's region), a NIR without its key, a card number; a run where several
  fields ran together ("0612345678 1 85 03 75 123 456 41") is read by digit-group layout
  (phone 2-2-2-2-2, NIR 1-2-2-2-3-3[-2], card 4-4-4-4[-3]) and by groups of 9+ digits;
- Corsican NIRs (2A/2B), IBANs (cut to their country's length), the e-mail around each '@'
  (lower-cased; a UTF-8 local part is lower-cased here, in Python, like the import does);
- dates in every written form (1985-03-12, 12/03/1985, 12.03.1985, 12 mars 1985, 1er février
  1985, 12 March 1985, 19850312), as ISO dates;
- on the rows that need them (a birth date of some record, a matched identifier), name phrases
  (letters joined by spaces, hyphens, apostrophes) cut at spaces into 1- to 3-word grams,
  compacted and hashed (`name_grams`). Letters up to U+024F are folded by a table made here
  from `identifiers.fold`; any other word is folded by Python, so both sides always agree.

Only the kinds the set holds are read. Nothing here is written anywhere.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import phonenumbers

from monitor.matching import _native
from monitor.matching import kinds as _registry
from monitor.matching.fingerprints.hashing import Hasher, compact_name
from monitor.matching.identifiers import MONTHS, fold
from monitor.matching.kinds import Kind

# Limits and kind codes shared with the C reader, which defines them.
MAX_ROW = _native.MAX_ROW  # longer rows (one huge line without separators) are cut in pieces
MAX_PHRASES_PER_ROW = _native.MAX_PHRASES_PER_ROW
_WORD_SPLIT = re.compile(r"[ _]+")
_FIELD_SPLIT = re.compile(rb"[;,|\t\"()\[\]{}:=<>\n]+")
# The kinds the C reader has a function for, by code (Kind.native); kinds without one are
# read by their Kind.find in Python and get codes after these.
STRONG_KIND_NAMES: tuple[str, ...] = _native.STRONG_KIND_NAMES
_FOLD_LIMIT = 0x250  # code points folded by table in C (Latin-1, Latin Extended-A and -B)


@lru_cache(maxsize=1)
def _fold_table() -> tuple[bytes, ...]:
    """compact_name(fold(c)) of each code point below _FOLD_LIMIT, as UTF-8, for the C reader."""
    return tuple(compact_name(fold(chr(cp))).encode("utf-8") for cp in range(_FOLD_LIMIT))


@lru_cache(maxsize=65536)
def _fold_word(raw: bytes) -> bytes:
    """A word the C table cannot fold (other scripts, combining marks, broken UTF-8)."""
    return compact_name(fold(raw.decode("utf-8", "ignore"))).encode("utf-8")


@dataclass(slots=True)
class DocCandidates:
    """Hashed candidates of one document, tied to the row they were found on."""

    bounds: np.ndarray  # sorted end offsets of rows; row r is (bounds[r-1], bounds[r]]
    kind_names: tuple[str, ...] = STRONG_KIND_NAMES  # kind of each code in strong_kinds
    strong_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    strong_hashes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    strong_kinds: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))  # codes
    # dates: row of each (ascending) and its hash
    date_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    date_hashes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    # (start, end) of each e-mail address, int64 of shape (n, 2)
    email_spans: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))

    _bounds_list: list[int] | None = None

    @property
    def emails(self) -> list[tuple[int, int]]:
        """Spans of the e-mail addresses, as (start, end) tuples."""
        return [tuple(span) for span in self.email_spans.tolist()]

    def kind(self, i: int) -> str:
        """The kind of strong candidate `i` ("phone", "fr_nir", ...)."""
        return self.kind_names[int(self.strong_kinds[i])]

    def row_span(self, row: int, size: int) -> tuple[int, int]:
        """[start, end) of row `row` in a document of `size` bytes."""
        bounds = self._bounds_list
        if bounds is None:
            bounds = self._bounds_list = self.bounds.tolist()
        start = bounds[row - 1] + 1 if row > 0 else 0
        end = bounds[row] if row < len(bounds) else size
        return start, end


def native_domains(wanted: frozenset[str]) -> list[bytes | None]:
    """The hash domain of each C reader code (None: not read), from the kinds registry; a
    kind whose code names another C function is an error, not a silent mismatch."""
    domains: list[bytes | None] = [None] * len(STRONG_KIND_NAMES)
    for kind in _registry.all_kinds():
        if kind.native is None:
            continue
        if not 0 <= kind.native < len(STRONG_KIND_NAMES) or \
                STRONG_KIND_NAMES[kind.native] != kind.name:
            raise ValueError(f"kind {kind.name!r}: C reader code {kind.native} reads "
                             f"{dict(enumerate(STRONG_KIND_NAMES)).get(kind.native, 'nothing')}")
        if kind.name in wanted:
            domains[kind.native] = kind.domain
    return domains


class Extractor:
    """Candidate extraction for one key and phone region; safe to share between threads (the C
    reader runs under the GIL).

    `kinds` are the unique-identifier kinds the set holds (default: all) and `dates` whether
    it holds a date: candidates of other kinds are neither read nor hashed (a set without
    cards does not hash every 15-digit NIR a second time as a card number).
    """

    def __init__(self, hasher: Hasher, *, region: str = "FR",
                 kinds: frozenset[str] | set[str] | None = None, dates: bool = True) -> None:
        self._hasher = hasher
        self._region = region = region.upper()
        cc = str(phonenumbers.country_code_for_region(region) or 33)
        meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
        trunk = (meta.national_prefix if meta is not None else "0") or ""
        unique = _registry.unique_names()
        self.kinds = unique if kinds is None else frozenset(kinds) & unique
        self.dates = dates
        # kinds the C reader has no function for: read by their Kind.find, coded after its own
        self._python: list[tuple[int, Kind]] = [
            (len(STRONG_KIND_NAMES) + i, k) for i, k in enumerate(
                k for k in _registry.all_kinds()
                if k.name in self.kinds and k.native is None and k.find is not None)]
        self._kind_names = STRONG_KIND_NAMES + tuple(k.name for _, k in self._python)
        self._email_prefix = _registry.get("email").domain + b"\0"
        self._name_domain = _registry.get("last_name").domain
        self._text_domain = _registry.get("text").domain
        self._reader = _native.CandidateReader(
            hasher.native, native_domains(self.kinds), dates, cc.encode(), trunk.encode(),
            _fold_table(), {k.encode(): v for k, v in MONTHS.items()}, _fold_word,
            _registry.get("date").domain, self._name_domain,
        )

    def screen_with(self, strong: tuple[np.ndarray, np.ndarray, int],
                    combo: tuple[np.ndarray, np.ndarray, int] | None, birth_dates: np.ndarray
                    ) -> Callable[[bytes], tuple[tuple, bytes, bytes] | None] | None:
        """A C test `screen(data)`: None when no record of the set can be in data (no
        identifier in the `strong` table, no last name + birth date of one row in the `combo`
        table; both as (sorted hashes, bucket index, shift)), so the whole match would find
        nothing; else (the reader's pass over data and the row ends, for `extract(data, read,
        bounds)`; the (row, sum) pairs of `combo` on its rows, as uint64 pairs). None when
        kinds are read in Python (the C pass does not see them)."""
        if self._python:
            return None
        empty = np.zeros(0, np.uint64)
        s_h, s_idx, s_shift = strong
        c_h, c_idx, c_shift = combo if combo is not None else \
            (empty, np.zeros(257, np.uint32), 56)
        self._reader.set_tables(s_h, s_idx, s_shift, c_h, c_idx, c_shift,
                                np.ascontiguousarray(birth_dates, dtype=np.uint64))
        return self._reader.screen

    # -- rows ---------------------------------------------------------------------------

    @staticmethod
    def row_bounds(data: bytes, newlines: np.ndarray, inline: np.ndarray,
                   json_members: bool) -> np.ndarray:
        """Sorted row ends: the newlines found by the reader (but those inside a pretty-printed
        JSON object), its `inline` record separators, and cuts of over-long rows."""
        if newlines.size and json_members:
            newlines = _join_json_members(np.frombuffer(data, dtype=np.uint8), newlines)
        bounds = newlines
        if inline.size:  # never at a newline (they are ')' and '}' bytes): no duplicates
            bounds = np.sort(np.concatenate((bounds, inline)))
        return _cut_long_rows(bounds, len(data))

    # -- the pass over a document -------------------------------------------------------

    def extract(self, data: bytes, read: tuple | None = None,
                row_ends: bytes | None = None) -> DocCandidates:
        """Every candidate of `data`, hashed, with the row it is on (one C pass, or the one
        `screen` made: `read`, with the `row_bounds` it found)."""
        (strong_pos, strong_kind, strong_hash, date_pos, date_hash, email_spans,
         slow_emails, inline, newlines, json_members) = read or self._reader.extract(data)
        bounds = np.frombuffer(row_ends, dtype=np.int64) if row_ends is not None else \
            self.row_bounds(data, np.frombuffer(newlines, dtype=np.int64),
                            np.frombuffer(inline, dtype=np.int64), json_members)
        cand = DocCandidates(bounds=bounds, kind_names=self._kind_names)
        positions = np.frombuffer(strong_pos, dtype=np.int64)
        kinds = np.frombuffer(strong_kind, dtype=np.uint8)
        hashes = np.frombuffer(strong_hash, dtype=np.uint64)
        if slow_emails:  # e-mails with a UTF-8 local part: lower-cased as the import does
            positions = np.concatenate((positions, [pos for pos, _, _ in slow_emails]))
            kinds = np.concatenate((kinds, np.full(len(slow_emails), _native.EMAIL_KIND,
                                                   dtype=np.uint8)))
            hashes = np.concatenate((hashes, self._hasher.hash_many(
                [self._email_prefix + _email_form(local, domain)
                 for _, local, domain in slow_emails])))
        for code, kind in self._python:
            found = self._python_candidates(kind, data)
            if found:
                positions = np.concatenate((positions, [pos for pos, _ in found]))
                kinds = np.concatenate((kinds, np.full(len(found), code, dtype=np.uint8)))
                hashes = np.concatenate((hashes, self._hasher.hash_many(
                    [message for _, message in found])))
        if positions.size:
            cand.strong_rows = np.searchsorted(bounds, positions)
            cand.strong_hashes = hashes
            cand.strong_kinds = kinds
        if date_pos:
            cand.date_rows = np.searchsorted(bounds, np.frombuffer(date_pos, dtype=np.int64))
            cand.date_hashes = np.frombuffer(date_hash, dtype=np.uint64)
        cand.email_spans = np.frombuffer(email_spans, dtype=np.int64).reshape(-1, 2)
        return cand

    def _python_candidates(self, kind: Kind, data: bytes) -> list[tuple[int, bytes]]:
        """(offset, message to hash) of each candidate `kind.find` reads in `data`."""
        assert kind.find is not None
        out: list[tuple[int, bytes]] = []
        prefix = kind.domain + b"\0"
        for pos, value in kind.find(data, self._region):
            form = kind.hashed(value)
            if form is not None:
                out.append((pos, prefix + form.encode("utf-8")))
        return out

    # -- names --------------------------------------------------------------------------

    def phrase_view(self, data: bytes, email_spans: np.ndarray) -> bytes:
        """`data` with every byte that cannot be part of a name turned into a space, and the
        spaces inside names into "_" (a row splits into phrases such as b"Jean_Pierre").
        E-mail addresses are blanked, so that "famille.legall@..." does not read as the name
        "Le Gall"."""
        spans = np.ascontiguousarray(email_spans, dtype=np.int64)
        return self._reader.phrase_view(data, spans.tobytes())

    def set_last_names(self, hashes: np.ndarray) -> None:
        """The sorted last-name hashes `names_of_rows(..., last_names_only=True)` keeps."""
        self._reader.set_name_filter(np.ascontiguousarray(hashes, dtype=np.uint64))

    def names_of_rows(self, view: bytes, bounds: np.ndarray, rows: np.ndarray, *,
                      last_names_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Name-gram hashes of the rows `rows` of `view` (rows of `bounds`, as in
        DocCandidates), flat, with the row of each (one C call); with `last_names_only`,
        only the hashes given to `set_last_names`."""
        rows = np.asarray(rows, dtype=np.int64)
        ends_all = np.append(bounds, len(view)).astype(np.int64)
        starts = np.where(rows > 0, ends_all[np.maximum(rows - 1, 0)] + 1, 0)
        hashes, index = self._reader.name_grams(view, starts.astype(np.int64).tobytes(),
                                                ends_all[rows].tobytes(), last_names_only)
        return (np.frombuffer(hashes, dtype=np.uint64),
                rows[np.frombuffer(index, dtype=np.int64)])

    def names_of_spans(self, view: bytes, spans: list[tuple[int, int]]) -> list[set[int]]:
        """The name-gram hashes of each row view[start:end] of `spans`, as `names_of_rows`
        gives them, one set per span (one C call; plain lists for a document's few rows)."""
        starts = array("q", [a for a, _ in spans]).tobytes()
        ends = array("q", [b for _, b in spans]).tobytes()
        hashes, index = self._reader.name_grams(view, starts, ends)
        out: list[set[int]] = [set() for _ in spans]
        for h, i in zip(memoryview(hashes).cast("Q").tolist(),
                        memoryview(index).cast("q").tolist(), strict=True):
            out[i].add(h)
        return out

    def names_in(self, view: bytes, start: int, end: int) -> set[int]:
        """Name-gram hashes of view[start:end] (a row of `phrase_view`), bounded per row."""
        hashes, _ = self._reader.name_grams(view, np.int64(start).tobytes(),
                                            np.int64(end).tobytes())
        return set(np.frombuffer(hashes, dtype=np.uint64).tolist())

    def name_count(self, view: bytes, start: int, end: int, name: int) -> int:
        """How many words (or hyphenated compounds) of view[start:end] hash to `name`."""
        count = 0
        for piece in view[start:min(end, start + MAX_ROW)].split()[:MAX_PHRASES_PER_ROW]:
            for word in _WORD_SPLIT.split(piece.decode("utf-8", "ignore").strip(" _-'")):
                value = compact_name(fold(word))
                if value and self._hasher.hash(self._name_domain, value) == name:
                    count += 1
        return count

    def row_texts(self, row: bytes) -> set[int]:
        """Hashes (domain "text") of each field of a row, for free-text corroboration."""
        out: set[int] = set()
        for part in _FIELD_SPLIT.split(row[:MAX_ROW]):
            value = compact_name(fold(part.decode("utf-8", "ignore")))
            if value:
                out.add(self._hasher.hash(self._text_domain, value))
        return out


def _email_form(local: bytes, domain: bytes) -> bytes:
    """The hashed form of an e-mail address read in a document: lower-case, local part
    without leading dots. ASCII (nearly all) stays bytes; UTF-8 local parts are lowered as
    text, like identifiers.normalize does at import."""
    email = local.lstrip(b".") + b"@" + domain
    if email.isascii():
        return email.lower()
    text = local.decode("utf-8", "ignore").lstrip(".") + "@" + domain.decode("ascii")
    return text.lower().encode("utf-8")


_INDENT = 24  # pretty-printed JSON indents members by fewer bytes than this
_SPACE = np.zeros(256, dtype=bool)
_SPACE[list(b" \t\r\n")] = True


def _join_json_members(arr: np.ndarray, newlines: np.ndarray) -> np.ndarray:
    """Drop the newlines inside pretty-printed JSON objects, so that one object is one row.

    A newline is inside an object when the next line is indented and starts with a member
    (`"key": ...`) after a line ending with `{` or `,`, or starts with the closing `}`.
    Only indented lines are looked at, within a window of `_INDENT` bytes.
    """
    size = arr.size
    nxt1 = arr[np.minimum(newlines + 1, size - 1)]
    maybe = newlines[(nxt1 == 32) | (nxt1 == 9)]  # indented next line
    if maybe.size == 0:
        return newlines
    idx = np.minimum(maybe[:, None] + np.arange(1, _INDENT + 1, dtype=np.int64), size - 1)
    window = arr[idx]
    solid = ~_SPACE[window]
    first = solid.argmax(axis=1)
    nxt = window[np.arange(maybe.size), first]
    prev_pos = maybe - 1
    prev_pos = np.where((prev_pos > 0) & (arr[np.maximum(prev_pos, 0)] == 13), prev_pos - 1,
                        prev_pos)
    prv = arr[np.maximum(prev_pos, 0)]
    member = (nxt == ord('"')) & ((prv == ord(",")) | (prv == ord("{")))
    closing = nxt == ord("}")
    inside = solid.any(axis=1) & (prev_pos >= 0) & (member | closing)
    return np.setdiff1d(newlines, maybe[inside], assume_unique=True)


def _cut_long_rows(bounds: np.ndarray, size: int) -> np.ndarray:
    """Add bounds so that no row is longer than MAX_ROW (bounded work per row)."""
    edges = np.concatenate(([-1], bounds, [size]))
    gaps = np.diff(edges)
    if not (gaps > MAX_ROW).any():
        return bounds
    extra: list[int] = []
    for i in np.flatnonzero(gaps > MAX_ROW).tolist():
        start, end = int(edges[i]) + 1, int(edges[i + 1])
        extra.extend(range(start + MAX_ROW, end, MAX_ROW))
    # strictly inside gaps longer than MAX_ROW: never equal to a bound already there
    return np.sort(np.concatenate((bounds, np.array(extra, dtype=np.int64))))
