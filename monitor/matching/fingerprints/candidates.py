"""Finding, in a document's bytes, the values that could be fields of our records.

The text is cut into rows (lines; `),(` and `},{` between records of SQL extended INSERTs and
one-line JSON arrays; the member lines of pretty-printed JSON objects are joined), then:

- one Hyperscan pass finds where identifier and date candidates start; an anchored Python regex
  reads each one: runs of digits with optional ` .-` separators (NIR, phone, card; runs where
  several fields ran together are read by digit-group layout), Corsican NIRs, IBANs, and the
  e-mails around each '@'. Each is turned into the form the import hashed (NIR without key,
  E.164 phone, compact IBAN, lower-case e-mail) and hashed;
- dates in every written form are turned into ISO and hashed;
- on rows holding the birth date of some record (or a matched identifier), name phrases (letters
  joined by spaces, hyphens, apostrophes) are cut at spaces into 1- to 3-word grams, compacted
  and hashed.

Only the kinds the set holds are read. Python only touches candidates: the identifiers of a
document are hashed in one loop, each distinct one once; dates (per written form and per ISO
day), words, short name phrases and digit runs that read as nothing are cached (bounded, in
memory only). Nothing here is written anywhere.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import date
from itertools import chain

import hyperscan
import numpy as np
import phonenumbers

from monitor.matching.fingerprints.hashing import Hasher, compact_name
from monitor.matching.identifiers import MONTHS, fold

MAX_ROW = 4096  # longer rows (one huge line without record separators) are cut in pieces
MAX_PHRASES_PER_ROW = 64
MAX_WORDS_PER_PHRASE = 12
NGRAM = 3
_CACHE_LIMIT = 200_000  # entries per cache (dates, name phrases), then the cache restarts
_CACHED_PHRASE_BYTES = 64

_DATE = re.compile(
    rb"(?<![0-9])(?:"
    rb"((?:1[89]|20)[0-9]{2})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})"  # 1985-03-12, 1985/03/12
    rb"|([0-9]{1,2})[-/.]([0-9]{1,2})[-/.]((?:1[89]|20)[0-9]{2})"  # 12/03/1985, 12.03.1985
    rb"|([0-9]{1,2})(?:er|st|nd|rd|th)?[ ]{1,2}((?:[A-Za-z]|\xc3[\x80-\xbf]){3,9})\.?,?[ ]{1,2}"
    rb"((?:1[89]|20)[0-9]{2})"  # 12 mars 1985, 1er février 1985, 12 March 1985
    rb"|((?:19|20)[0-9]{2})([01][0-9])([0-3][0-9])"  # 19850312
    rb")(?![0-9])"
)
_SEP = re.compile(rb"[ .\-]")
_NIR_2AB = re.compile(
    rb"(?<![0-9])[12][ .]?[0-9]{2}[ .]?[0-9]{2}[ .]?2[ABab][ .]?[0-9]{3}[ .]?[0-9]{3}"
    rb"(?:[ .]?[0-9]{2})?(?![0-9])"
)
_IBAN = re.compile(rb"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?:[ ]?[A-Z0-9]){11,30}")
# Local part of an e-mail, read backwards from the '@'; UTF-8 letters allowed (RFC 6531).
_LOCAL_REV = re.compile(rb"(?:[A-Za-z0-9._%+\-]|[\x80-\xff]){1,64}")
_LOCAL_CHAR = [bool(re.match(rb"[A-Za-z0-9._%+\-\x80-\xff]", bytes([b]))) for b in range(256)]
_DOMAIN = re.compile(rb"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}\.)+[A-Za-z]{2,24}")
# Words of a phrase are cut at spaces only: "Jean-Pierre" and "N'Diaye" stay one word, so the
# city "Saint-Étienne" never reads as the first name "Étienne".
_WORD_SPLIT = re.compile(r"[ _]+")
_FIELD_SPLIT = re.compile(rb"[;,|\t\"()\[\]{}:=<>\n]+")

_SEP_KEEP = re.compile(rb"([ .\-])")
# Digit-group layouts of identifiers written with separators: French phone (2-2-2-2-2), NIR
# (1-2-2-2-3-3[-2]), card (4-4-4-4[-3]).
_LAYOUTS_ANYWHERE = frozenset({(1, 2, 2, 2, 3, 3), (1, 2, 2, 2, 3, 3, 2), (4, 4, 4, 4),
                               (4, 4, 4, 4, 3)})
_LAYOUTS = _LAYOUTS_ANYWHERE | {(2, 2, 2, 2, 2)}
# Digit counts of one identifier written alone (phone, NIR without/with key, card): a run of
# that length is read whole; other runs with separators may hold several fields.
_ONE_ID_LENGTHS = frozenset({9, 10, 13, 15, 16})
# Hashed message prefix (domain || 0x00) of each kind read by the extractor.
_PREFIX = {k: k.encode() + b"\0" for k in ("phone", "fr_nir", "card", "iban", "email")}
STRONG_KINDS = frozenset(_PREFIX)
_NUM_AT = re.compile(rb"[^0-9+]{0,2}?(\+?[0-9](?:[ .\-]?[0-9]){8,40})")

# One Hyperscan pass finds where candidates start (SOM_LEFTMOST); the Python regexes above
# then read each one with an anchored match. Each pattern carries one byte of left context so
# that a run of digits is reported once, at its start, not at every digit inside it.
_HS_NUM, _HS_DATE, _HS_IBAN, _HS_NIR2AB = 0, 1, 2, 3
_HS_PATTERNS = (
    # 9+ digits: no identifier is shorter, and 12.03.1985 (8 digits) is a date, not a number
    (_HS_NUM, rb"(?:^|[^0-9A-Za-z+ .\-]|[^0-9][ .\-])\+?[0-9](?:[ .\-]?[0-9]){8}"),
    (_HS_DATE, rb"(?:^|[^0-9])(?:[0-9]{4}[-/.][0-9]{1,2}[-/.][0-9]{1,2}"
               rb"|[0-9]{1,2}[-/.][0-9]{1,2}[-/.][0-9]{4}"
               rb"|[0-9]{1,2}(?:er|st|nd|rd|th)? {1,2}(?:[A-Za-z]|\xc3[\x80-\xbf]){3,9}"
               rb"\.?,? {1,2}[0-9]{4}"
               rb"|(?:19|20)[0-9]{6})"),
    (_HS_IBAN, rb"(?:^|[^A-Za-z0-9])[A-Z]{2}[0-9]{2}[ ]?[A-Z0-9]{4}[ ]?[A-Z0-9]{4}"),
    (_HS_NIR2AB, rb"(?:^|[^0-9])[12][ .]?[0-9]{2}[ .]?[0-9]{2}[ .]?2[ABab]"),
)
_hs_dbs: dict[tuple[int, ...], hyperscan.Database] = {}
_hs_lock = threading.Lock()
_hs_local = threading.local()


def _scratch(ids: tuple[int, ...]) -> tuple[hyperscan.Database, hyperscan.Scratch]:
    """The database of patterns `ids` (compiled once per process) and this thread's scratch.

    A set only pays for the candidates it can match: a set without IBANs never runs the IBAN
    pattern. Each thread gets its own scratch per database (Hyperscan scratch is not shareable).
    """
    db = _hs_dbs.get(ids)
    if db is None:
        with _hs_lock:
            db = _hs_dbs.get(ids)
            if db is None:
                patterns = [(i, p) for i, p in _HS_PATTERNS if i in ids]
                db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
                db.compile(
                    expressions=[p for _, p in patterns],
                    ids=[i for i, _ in patterns],
                    elements=len(patterns),
                    flags=[hyperscan.HS_FLAG_SOM_LEFTMOST | hyperscan.HS_FLAG_MULTILINE]
                    * len(patterns),
                )
                _hs_dbs[ids] = db
    scratches = getattr(_hs_local, "scratches", None)
    if scratches is None:
        scratches = _hs_local.scratches = {}
    scratch = scratches.get(ids)
    if scratch is None or scratch[0] is not db:
        scratch = scratches[ids] = (db, hyperscan.Scratch(db))
    return scratch


_DIGIT = frozenset(b"0123456789")
_ALNUM = _DIGIT | frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def _skip_context(data: bytes, start: int, first: frozenset[int]) -> int:
    """Where the candidate reported at `start` begins: Hyperscan's start includes the byte of
    left context, unless the match is at the start of a line (then the candidate's own first
    byte, a digit or letter, is at `start`). One anchored match instead of two."""
    return start if data[start] in first else start + 1


def _collect(id_: int, start: int, end: int, flags: int, found: list[int]) -> None:
    found.append(start << 2 | id_)


# Name phrases: letters and UTF-8 sequences are kept, the joiners inside a name (space,
# hyphen, apostrophe) become "_", every other byte becomes a space, so that bytes.split() (in C)
# cuts a row into phrases such as b"Jean_Pierre" or b"DUPONT".
_PHRASE_TABLE = bytes(
    b if (65 <= b <= 90 or 97 <= b <= 122 or b >= 128 or b in b"-'")
    else 95 if b == 32 else 32
    for b in range(256)
)

# IBAN length by country (ISO 13616 registry, the countries a French organization meets most);
# used to cut a match that ran into the next word. Other countries keep the whole match.
IBAN_LENGTHS: dict[bytes, int] = {
    b"FR": 27, b"MC": 27, b"DE": 22, b"BE": 16, b"LU": 20, b"CH": 21, b"IT": 27, b"ES": 24,
    b"PT": 25, b"NL": 18, b"GB": 22, b"IE": 22, b"AT": 20, b"PL": 28, b"SE": 24, b"DK": 18,
    b"FI": 18, b"NO": 15, b"GR": 27, b"CZ": 24, b"RO": 24, b"HU": 28, b"MA": 28, b"TN": 24,
    b"DZ": 26, b"SN": 28, b"CI": 28, b"GP": 27, b"MQ": 27, b"RE": 27, b"GF": 27, b"NC": 27,
    b"PF": 27, b"PM": 27, b"YT": 27,
}


@dataclass(slots=True)
class DocCandidates:
    """Hashed candidates of one document, tied to the row they were found on."""

    bounds: np.ndarray  # sorted end offsets of rows; row r is (bounds[r-1], bounds[r]]
    strong_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    strong_hashes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    strong_kinds: list[str] = field(default_factory=list)
    # dates: row of each (ascending) and its hash
    date_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    date_hashes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    emails: list[tuple[int, int]] = field(default_factory=list)  # spans of e-mail addresses

    _bounds_list: list[int] | None = None

    def row_span(self, row: int, size: int) -> tuple[int, int]:
        """[start, end) of row `row` in a document of `size` bytes."""
        bounds = self._bounds_list
        if bounds is None:
            bounds = self._bounds_list = self.bounds.tolist()
        start = bounds[row - 1] + 1 if row > 0 else 0
        end = bounds[row] if row < len(bounds) else size
        return start, end

    def dates_on(self, row: int) -> set[int]:
        """Hashes of the dates on row `row`."""
        lo, hi = np.searchsorted(self.date_rows, (row, row + 1)).tolist()
        return set(self.date_hashes[lo:hi].tolist())


class _PhraseCache(dict):
    """phrase -> name-gram hashes; a miss computes (and, for short phrases, stores) them.

    `__missing__` lets `names_in` map a whole row of phrases through the cache in C
    (`map(cache.__getitem__, ...)`); only unseen phrases run Python code.
    """

    def __init__(self, compute) -> None:
        super().__init__()
        self._compute = compute

    def __missing__(self, phrase: bytes) -> tuple[int, ...]:
        out = self._compute(phrase)
        # Only phrases of one or two words come back (a name column, "Jean_Pierre"); longer
        # ones are whole rows of a space-separated dump ("DUPONT_Jean_ne") and would only
        # fill memory. Bounded: 200k short keys at most.
        if len(phrase) <= _CACHED_PHRASE_BYTES and phrase.strip(b"_").count(b"_") <= 1:
            if len(self) > _CACHE_LIMIT:
                self.clear()
            self[phrase] = out
        return out


class Extractor:
    """Candidate extraction for one key and phone region; safe to share between threads.

    `kinds` are the unique-identifier kinds the set holds and `dates` whether it holds a date:
    candidates of other kinds are neither read nor hashed (a set without cards does not hash
    every 15-digit NIR a second time as a card number).
    """

    def __init__(self, hasher: Hasher, *, region: str = "FR",
                 kinds: frozenset[str] | set[str] = STRONG_KINDS, dates: bool = True) -> None:
        self._hasher = hasher
        region = region.upper()
        self._cc = str(phonenumbers.country_code_for_region(region) or 33)
        meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
        self._trunk = (meta.national_prefix if meta is not None else "0") or ""
        self._cc_b = self._cc.encode()
        self._trunk_b = self._trunk.encode()
        self.kinds = frozenset(kinds) & STRONG_KINDS
        self.dates = dates
        self._emails = "email" in self.kinds
        ids = []
        if self.kinds & {"phone", "fr_nir", "card"}:
            ids.append(_HS_NUM)
        if dates:
            ids.append(_HS_DATE)
        if "iban" in self.kinds:
            ids.append(_HS_IBAN)
        if "fr_nir" in self.kinds:
            ids.append(_HS_NIR2AB)
        self._hs_ids = tuple(ids)
        self._date_cache: dict[bytes, int | None] = {}
        self._no_reading: set[bytes] = set()  # digit runs that are no identifier
        self._iso_cache: dict[str, int] = {}  # bounded by the calendar: ~73k days in 1800-2099
        self._phrase_cache = _PhraseCache(self.phrase_hashes)
        self._word_cache: dict[bytes, str] = {}
        self._gram_cache: dict[str, int] = {}

    # -- rows ---------------------------------------------------------------------------

    @staticmethod
    def row_bounds(data: bytes) -> np.ndarray:
        arr = np.frombuffer(data, dtype=np.uint8)
        newlines = np.flatnonzero(arr == 10)
        if newlines.size and b'":' in data:
            newlines = _join_json_members(arr, newlines)
        bounds = newlines.astype(np.int64)
        inline: list[int] = []
        for sep in (b"),(", b"), (", b"},{", b"}, {"):  # SQL extended INSERT, one-line JSON
            at = data.find(sep)
            while at != -1:
                inline.append(at)
                at = data.find(sep, at + 3)
        if inline:
            bounds = np.union1d(bounds, np.array(inline, dtype=np.int64))
        return _cut_long_rows(bounds, len(data))

    # -- hashing helpers ----------------------------------------------------------------

    def _date_hash(self, raw: bytes, m: re.Match[bytes]) -> int | None:
        cached = self._date_cache.get(raw, -1)
        if cached != -1:
            return cached  # type: ignore[return-value]
        iso: str | None = None
        try:
            if m.group(1):
                iso = _iso(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            elif m.group(4):
                iso = _iso(int(m.group(6)), int(m.group(5)), int(m.group(4)))
            elif m.group(7):
                month = MONTHS.get(fold(m.group(8).decode("utf-8", "ignore")))
                if month:
                    iso = _iso(int(m.group(9)), month, int(m.group(7)))
            else:
                iso = _iso(int(m.group(10)), int(m.group(11)), int(m.group(12)))
        except ValueError:
            iso = None
        h = None
        if iso:  # one day is written many ways: hash each ISO date once
            h = self._iso_cache.get(iso)
            if h is None:
                h = self._iso_cache[iso] = self._hasher.hash(b"date", iso)
        if len(self._date_cache) > _CACHE_LIMIT:
            self._date_cache.clear()
        self._date_cache[raw] = h
        return h

    def _number_messages(self, raw: bytes) -> list[tuple[str, bytes]]:
        """(kind, hashed message) readings of a run of digits with ` .-` separators, for the
        kinds the set holds.

        Runs that read as nothing are remembered: chat time stamps ("2024-10-31 00") come
        back on every line. Readings themselves are not cached: in dumps nearly every number
        is new (repeats are hashed once per document, see `_hash_distinct`).
        """
        if raw in self._no_reading:
            return []
        kinds = self.kinds
        out = [(kind, _PREFIX[kind] + value) for kind, value in self._number_values(raw)
               if kind in kinds]
        if not out:
            if len(self._no_reading) > _CACHE_LIMIT:
                self._no_reading.clear()
            self._no_reading.add(raw)
        return out

    def _number_values(self, raw: bytes) -> list[tuple[str, bytes]]:
        """(kind, hashed form) readings of a run of digits with optional ` .-` separators."""
        plus = raw[:1] == b"+"
        body = raw[1:] if plus else raw
        digits = body.translate(None, b" .-")
        out = self._readings(digits, plus) if len(digits) <= 19 else []
        n = len(digits)
        if not plus and n >= 9 and n != len(body) and (n > 19 or n not in _ONE_ID_LENGTHS):
            out.extend(self._windows(body, n))
        return out

    def _windows(self, body: bytes, n_digits: int) -> list[tuple[str, bytes]]:
        """Readings of the windows of digit groups that are laid out like one identifier.

        Fields run together in space-separated dumps ("1985 06 12 34 56 78",
        "0612345678 1 85 03 75 123 456 41"). Only windows with one kind of separator and the
        layout of a phone, NIR or card are read, never free slices: those would make up phone
        numbers out of digit soup (a 10^6-record set holds 1% of all mobile numbers).
        """
        parts = _SEP_KEEP.split(body)  # [group, sep, group, sep, ...]
        groups = parts[0::2]
        seps = parts[1::2]
        lengths = tuple(len(g) for g in groups)
        if n_digits <= 19 and lengths in _LAYOUTS:
            return []  # the whole run is one identifier, already read
        if max(lengths) < 9 and lengths.count(2) < 5 and lengths.count(3) < 2 \
                and lengths.count(4) < 4:
            return []  # no layout can fit ("2025-06-29 00" time stamps)
        out: list[tuple[str, bytes]] = []
        for i in range(len(groups)):
            inside = i > 0 and seps[i - 1] != b" "  # "06.26.490.795": a slice of a number
            for j in range(i + 1, min(len(groups), i + 7) + 1):
                if j - i > 1 and seps[j - 2] != seps[i]:
                    break  # one identifier is written with one kind of separator
                layout = lengths[i:j]
                if j - i == 1 and len(groups) > 1 and lengths[i] >= 9:
                    out.extend(self._readings(groups[i], False))
                elif layout in _LAYOUTS and not (inside and layout not in _LAYOUTS_ANYWHERE):
                    out.extend(self._readings(b"".join(groups[i:j]), False))
        return out

    def _readings(self, digits: bytes, plus: bool) -> list[tuple[str, bytes]]:
        n = len(digits)
        out: list[tuple[str, bytes]] = []
        if plus:
            if 8 <= n <= 15:
                out.append(("phone", b"+" + digits))
            return out
        cc, trunk = self._cc_b, self._trunk_b
        if digits.startswith(b"00") and 10 <= n <= 17:
            out.append(("phone", b"+" + digits[2:]))
        elif trunk and digits.startswith(trunk) and 9 <= n <= 12:
            out.append(("phone", b"+" + cc + digits[len(trunk):]))
        elif digits.startswith(cc) and 10 <= n <= 13:
            out.append(("phone", b"+" + digits))
        elif n == 9 and not digits.startswith(b"0"):
            out.append(("phone", b"+" + cc + digits))
        if n in (13, 15) and digits[0] in b"123478":
            out.append(("fr_nir", digits[:13]))
        if 12 <= n <= 19:
            out.append(("card", digits))
        return out

    def phrase_hashes(self, phrase: bytes) -> tuple[int, ...]:
        """Hashes (domain "name") of the 1..3-word grams of a phrase such as b"Jean-Pierre"
        (uncached: `names_in` goes through the cache)."""
        # A phrase is mostly new (a row's "DUPONT_Jean_ne"), its words are not: words and
        # their hashes are cached, so a new phrase costs the HMACs of its multi-word grams.
        word_cache = self._word_cache
        words = []
        for raw in phrase.strip(b" _-'").split(b"_")[:MAX_WORDS_PER_PHRASE]:
            word = word_cache.get(raw)
            if word is None:
                word = compact_name(fold(raw.decode("utf-8", "ignore")))
                if len(word_cache) > _CACHE_LIMIT:
                    word_cache.clear()
                word_cache[raw] = word
            if word:
                words.append(word)
        grams: set[str] = set()
        for i in range(len(words)):
            gram = ""
            for j in range(i, min(len(words), i + NGRAM)):
                gram += words[j]
                grams.add(gram)
        gram_cache = self._gram_cache
        word_set = set(words)
        out = []
        for gram in grams:
            h = gram_cache.get(gram)
            if h is None:
                h = self._hasher.hash(b"name", gram)
                if gram in word_set:  # multi-word grams rarely repeat: not kept
                    if len(gram_cache) > _CACHE_LIMIT:
                        gram_cache.clear()
                    gram_cache[gram] = h
            out.append(h)
        return tuple(out)

    def row_texts(self, row: bytes) -> set[int]:
        """Hashes (domain "text") of each field of a row, for free-text corroboration."""
        out: set[int] = set()
        for part in _FIELD_SPLIT.split(row[:MAX_ROW]):
            value = compact_name(fold(part.decode("utf-8", "ignore")))
            if value:
                out.add(self._hasher.hash(b"text", value))
        return out

    # -- the pass over a document -------------------------------------------------------

    def extract(self, data: bytes) -> DocCandidates:
        """Every candidate of `data`, hashed, with the row it is on.

        Python runs once per candidate start found by Hyperscan; the identifiers are hashed
        together at the end (`Hasher.hash_many`), each distinct one once per document.
        """
        bounds = self.row_bounds(data)
        cand = DocCandidates(bounds=bounds)
        positions: list[int] = []
        messages: list[bytes] = []
        kinds: list[str] = []
        date_pos: list[int] = []
        date_hashes: list[int] = []
        if self._hs_ids:
            found: list[int] = []
            db, scratch = _scratch(self._hs_ids)
            db.scan(data, match_event_handler=_collect, context=found, scratch=scratch)
            self._read_candidates(data, sorted(set(found)), positions, messages, kinds,
                                  date_pos, date_hashes)
        cand.emails = self._read_emails(data, positions, messages, kinds)

        if positions:
            cand.strong_rows = np.searchsorted(bounds, positions)
            cand.strong_hashes = _hash_distinct(self._hasher, messages)
            cand.strong_kinds = kinds
        if date_pos:
            cand.date_rows = np.searchsorted(bounds, date_pos)
            cand.date_hashes = np.array(date_hashes, dtype=np.uint64)
        return cand

    def _read_candidates(self, data: bytes, codes: list[int], positions: list[int],
                         messages: list[bytes], kinds: list[str], date_pos: list[int],
                         date_hashes: list[int]) -> None:
        """Read the candidate starting at each Hyperscan report (start << 2 | pattern id)."""
        last_end = [-1, -1, -1, -1]
        number_messages = self._number_messages
        for code in codes:
            start, id_ = code >> 2, code & 3
            if start < last_end[id_]:
                continue  # inside a candidate already read
            if id_ == _HS_NUM:
                m = _NUM_AT.match(data, start)
                if m is None:
                    continue
                last_end[id_] = m.end()
                at = m.start(1)
                for kind, message in number_messages(m.group(1)):
                    positions.append(at)
                    messages.append(message)
                    kinds.append(kind)
            elif id_ == _HS_DATE:
                m = _DATE.match(data, _skip_context(data, start, _DIGIT))
                if m is None:
                    continue
                raw = m.group()
                h = self._date_cache.get(raw, -1)
                if h == -1:
                    h = self._date_hash(raw, m)
                if h is not None:  # "23 Mary 1980-02-13": a bad month must not hide the date
                    last_end[id_] = m.end()
                    date_pos.append(m.start())
                    date_hashes.append(h)
            elif id_ == _HS_IBAN:
                m = _IBAN.match(data, _skip_context(data, start, _ALNUM))
                if m is None:
                    continue
                last_end[id_] = m.end()
                compact = m.group().replace(b" ", b"")
                cut = IBAN_LENGTHS.get(compact[:2])
                if cut is not None:
                    if len(compact) < cut:
                        continue
                    compact = compact[:cut]
                positions.append(m.start())
                messages.append(_PREFIX["iban"] + compact)
                kinds.append("iban")
            else:
                m = _NIR_2AB.match(data, _skip_context(data, start, _DIGIT))
                if m is None:
                    continue
                last_end[id_] = m.end()
                compact = _SEP.sub(b"", m.group()).upper()
                positions.append(m.start())
                messages.append(_PREFIX["fr_nir"] + compact[:13])
                kinds.append("fr_nir")

    def _read_emails(self, data: bytes, positions: list[int], messages: list[bytes],
                     kinds: list[str]) -> list[tuple[int, int]]:
        """Spans of the e-mail addresses of `data` (always: names are not read inside them);
        their messages are added only when the set holds e-mails."""
        emails: list[tuple[int, int]] = []
        hashed = self._emails
        prefix = _PREFIX["email"]
        at = data.find(b"@")
        while at != -1:
            if at > 0 and _LOCAL_CHAR[data[at - 1]]:  # "@user" mentions stop here
                # the local part, read backwards from the '@' (one anchored match)
                back = _LOCAL_REV.match(data[max(0, at - 64):at][::-1])
                dom = _DOMAIN.match(data, at + 1, at + 256) if back else None
                if back and dom:
                    start = at - back.end()
                    if hashed:
                        positions.append(start)
                        messages.append(prefix + _email_form(data[start:at], dom.group()))
                        kinds.append("email")
                    emails.append((start, dom.end()))
            at = data.find(b"@", at + 1)
        return emails

    def phrase_view(self, data: bytes, emails: list[tuple[int, int]]) -> bytes:
        """`data` with every byte that cannot be part of a name (and every e-mail address,
        so that "famille.legall@..." does not read as the name "Le Gall") turned into 0."""
        view = data.translate(_PHRASE_TABLE)
        if emails:
            buf = bytearray(view)
            for start, end in emails:
                buf[start:end] = b" " * (end - start)
            view = bytes(buf)
        return view

    def row_phrases(self, view: bytes, bounds: np.ndarray) -> list[bytes]:
        """`view` cut into rows (item r is row r), in one C split: the byte at each bound
        belongs to no row (see `DocCandidates.row_span`), so it becomes the cut."""
        buf = bytearray(view)
        marks = np.frombuffer(buf, dtype=np.uint8)
        marks[bounds] = 10  # never a name byte: `phrase_view` turned every newline into a space
        return bytes(buf).split(b"\n")

    def names_of_rows(self, rows_text: list[bytes],
                      rows: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Name-gram hashes of the rows `rows` (rows_text from `row_phrases`), flat, with the
        row of each. The loops run in C (map, chain); Python runs for unseen phrases only."""
        lookup = self._phrase_cache.__getitem__
        pieces = [rows_text[r].split()[:MAX_PHRASES_PER_ROW] for r in rows]
        per_row = np.fromiter(map(len, pieces), dtype=np.intp, count=len(pieces))
        grams = list(map(lookup, chain.from_iterable(pieces)))
        per_piece = np.fromiter(map(len, grams), dtype=np.intp, count=len(grams))
        hashes = np.fromiter(chain.from_iterable(grams), dtype=np.uint64,
                             count=int(per_piece.sum()))
        piece_rows = np.repeat(np.array(rows, dtype=np.int64), per_row)
        return hashes, np.repeat(piece_rows, per_piece)

    def name_count(self, view: bytes, start: int, end: int, name: int) -> int:
        """How many words (or hyphenated compounds) of view[start:end] hash to `name`."""
        count = 0
        for piece in view[start:min(end, start + MAX_ROW)].split()[:MAX_PHRASES_PER_ROW]:
            for word in _WORD_SPLIT.split(piece.decode("utf-8", "ignore").strip(" _-'")):
                value = compact_name(fold(word))
                if value and self._hasher.hash(b"name", value) == name:
                    count += 1
        return count

    def names_in(self, view: bytes, start: int, end: int) -> set[int]:
        """Name-gram hashes of view[start:end] (a row of `phrase_view`), bounded per row."""
        pieces = view[start:min(end, start + MAX_ROW)].split()[:MAX_PHRASES_PER_ROW]
        return set().union(*map(self._phrase_cache.__getitem__, pieces))


def _email_form(local: bytes, domain: bytes) -> bytes:
    """The hashed form of an e-mail address read in a document: lower-case, local part
    without leading dots. ASCII (nearly all) stays bytes; UTF-8 local parts are lowered as
    text, like identifiers.normalize does at import."""
    email = local.lstrip(b".") + b"@" + domain
    if email.isascii():
        return email.lower()
    text = local.decode("utf-8", "ignore").lstrip(".") + "@" + domain.decode("ascii")
    return text.lower().encode("utf-8")


def _hash_distinct(hasher: Hasher, messages: list[bytes]) -> np.ndarray:
    """Hashes of `messages`, each distinct message hashed once (numbers and e-mails repeat in
    chat and combo lists; the dedup itself runs in C)."""
    distinct = list(dict.fromkeys(messages))
    if len(distinct) == len(messages):
        return hasher.hash_many(messages)
    hashes = hasher.hash_many(distinct)
    index = dict(zip(distinct, range(len(distinct)), strict=True))
    return hashes[np.fromiter(map(index.__getitem__, messages), dtype=np.intp,
                              count=len(messages))]


def _iso(year: int, month: int, day: int) -> str | None:
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


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
    return np.union1d(bounds, np.array(extra, dtype=np.int64))
