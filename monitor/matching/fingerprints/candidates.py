"""Finding, in a document's bytes, the values that could be fields of our records.

The text is cut into rows (lines; `),(` and `},{` between records of SQL extended INSERTs and
one-line JSON arrays; objects of pretty-printed JSON), then:

- identifier candidates (NIR, phone, card: runs of digits with optional ` .-` separators;
  Corsican NIRs; IBANs; e-mails around each '@') are turned into the form the import hashed
  (NIR without key, E.164 phone, compact IBAN, lower-case e-mail) and hashed;
- dates in every written form are turned into ISO and hashed;
- name phrases (runs of letters joined by space, hyphen or apostrophe) on rows that hold a date
  or an identifier are cut into 1- to 3-word grams, compacted and hashed.

The regexes run in C over the whole document; Python only touches candidates, and hashes of
repeated dates and name phrases are cached. Nothing here is written anywhere.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import date

import hyperscan
import numpy as np
import phonenumbers

from monitor.matching.fingerprints.hashing import Hasher, compact_name
from monitor.matching.identifiers import _MONTHS, fold

MAX_ROW = 4096  # longer rows (one huge line without record separators) are cut in pieces
MAX_PHRASES_PER_ROW = 64
MAX_WORDS_PER_PHRASE = 12
NGRAM = 3
_CACHE_LIMIT = 200_000

_DATE = re.compile(
    rb"(?<![0-9])(?:"
    rb"((?:1[89]|20)[0-9]{2})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})"  # 1985-03-12, 1985/03/12
    rb"|([0-9]{1,2})[-/.]([0-9]{1,2})[-/.]((?:1[89]|20)[0-9]{2})"  # 12/03/1985 12.03.1985 12-03-1985
    rb"|([0-9]{1,2})(?:er|st|nd|rd|th)?[ ]{1,2}((?:[A-Za-z]|\xc3[\x80-\xbf]){3,9})\.?,?[ ]{1,2}"
    rb"((?:1[89]|20)[0-9]{2})"  # 12 mars 1985, 1er février 1985, 12 March 1985
    rb"|((?:19|20)[0-9]{2})([01][0-9])([0-3][0-9])"  # 19850312
    rb")(?![0-9])"
)
_NUM = re.compile(rb"(?<![0-9A-Za-z+])\+?[0-9](?:[ .\-]?[0-9]){7,40}")
_SEP = re.compile(rb"[ .\-]")
_NIR_2AB = re.compile(
    rb"(?<![0-9])[12][ .]?[0-9]{2}[ .]?[0-9]{2}[ .]?2[ABab][ .]?[0-9]{3}[ .]?[0-9]{3}"
    rb"(?:[ .]?[0-9]{2})?(?![0-9])"
)
_IBAN = re.compile(rb"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?:[ ]?[A-Z0-9]){11,30}")
_LOCAL = re.compile(rb"[A-Za-z0-9._%+\-]{1,64}\Z")
_DOMAIN = re.compile(rb"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}\.)+[A-Za-z]{2,24}")
_LETTER = rb"(?:[A-Za-z]|[\xc3-\xc5][\x80-\xbf])"
_PHRASE = re.compile(_LETTER + rb"+(?:(?:[ '\-]|\xe2\x80\x99){1,3}" + _LETTER + rb"+)*")
# Words of a phrase are cut at spaces only: "Jean-Pierre" and "N'Diaye" stay one word, so the
# city "Saint-Étienne" never reads as the first name "Étienne".
_WORD_SPLIT = re.compile(r"[ _]+")
_EMAILISH = re.compile(rb"[A-Za-z0-9._%+\-]*@[A-Za-z0-9.\-]*")
_FIELD_SPLIT = re.compile(rb"[;,|\t\"()\[\]{}:=<>\n]+")

_KIND_BYTES = {"phone": b"phone", "fr_nir": b"fr_nir", "card": b"card"}
_NUM_AT = re.compile(rb"[^0-9+]{0,2}?(\+?[0-9](?:[ .\-]?[0-9]){7,40})")

# One Hyperscan pass finds where candidates start (SOM_LEFTMOST); the Python regexes above
# then read each one with an anchored match. Each pattern carries one byte of left context so
# that a run of digits is reported once, at its start, not at every digit inside it.
_HS_NUM, _HS_DATE, _HS_IBAN, _HS_NIR2AB = 0, 1, 2, 3
_HS_PATTERNS = (
    (_HS_NUM, rb"(?:^|[^0-9A-Za-z+ .\-]|[^0-9][ .\-])\+?[0-9](?:[ .\-]?[0-9]){7}"),
    (_HS_DATE, rb"(?:^|[^0-9])(?:[0-9]{4}[-/.][0-9]{1,2}[-/.][0-9]{1,2}"
               rb"|[0-9]{1,2}[-/.][0-9]{1,2}[-/.][0-9]{4}"
               rb"|[0-9]{1,2}(?:er|st|nd|rd|th)? {1,2}(?:[A-Za-z]|\xc3[\x80-\xbf]){3,9}\.?,? {1,2}[0-9]{4}"
               rb"|(?:19|20)[0-9]{6})"),
    (_HS_IBAN, rb"(?:^|[^A-Za-z0-9])[A-Z]{2}[0-9]{2}[ ]?[A-Z0-9]{4}[ ]?[A-Z0-9]{4}"),
    (_HS_NIR2AB, rb"(?:^|[^0-9])[12][ .]?[0-9]{2}[ .]?[0-9]{2}[ .]?2[ABab]"),
)
_hs_db: hyperscan.Database | None = None
_hs_lock = threading.Lock()
_hs_local = threading.local()


def _scratch() -> tuple[hyperscan.Database, hyperscan.Scratch]:
    """The compiled database (built once per process) and this thread's scratch space."""
    global _hs_db
    if _hs_db is None:
        with _hs_lock:
            if _hs_db is None:
                db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
                db.compile(
                    expressions=[p for _, p in _HS_PATTERNS],
                    ids=[i for i, _ in _HS_PATTERNS],
                    elements=len(_HS_PATTERNS),
                    flags=[hyperscan.HS_FLAG_SOM_LEFTMOST | hyperscan.HS_FLAG_MULTILINE]
                    * len(_HS_PATTERNS),
                )
                _hs_db = db
    scratch = getattr(_hs_local, "scratch", None)
    if scratch is None or _hs_local.db is not _hs_db:
        scratch = _hs_local.scratch = hyperscan.Scratch(_hs_db)
        _hs_local.db = _hs_db
    return _hs_db, scratch


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
    strong_rows: list[int] = field(default_factory=list)
    strong_hashes: list[int] = field(default_factory=list)
    strong_kinds: list[str] = field(default_factory=list)
    dates: dict[int, set[int]] = field(default_factory=dict)  # row -> date hashes
    emails: list[tuple[int, int]] = field(default_factory=list)  # spans of e-mail addresses

    def row_span(self, row: int, size: int) -> tuple[int, int]:
        start = int(self.bounds[row - 1]) + 1 if row > 0 else 0
        end = int(self.bounds[row]) if row < len(self.bounds) else size
        return start, end


class Extractor:
    """Candidate extraction for one key and phone region; safe to share between threads."""

    def __init__(self, hasher: Hasher, *, region: str = "FR") -> None:
        self._hasher = hasher
        region = region.upper()
        self._cc = str(phonenumbers.country_code_for_region(region) or 33)
        meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
        self._trunk = (meta.national_prefix if meta is not None else "0") or ""
        self._date_cache: dict[bytes, int | None] = {}
        self._phrase_cache: dict[bytes, tuple[int, ...]] = {}
        self._lock = threading.Lock()

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
                month = _MONTHS.get(fold(m.group(8).decode("utf-8", "ignore")))
                if month:
                    iso = _iso(int(m.group(9)), month, int(m.group(7)))
            else:
                iso = _iso(int(m.group(10)), int(m.group(11)), int(m.group(12)))
        except ValueError:
            iso = None
        h = self._hasher.hash(b"date", iso) if iso else None
        if len(self._date_cache) > _CACHE_LIMIT:
            self._date_cache.clear()
        self._date_cache[raw] = h
        return h

    def _number_values(self, raw: bytes) -> list[tuple[str, str]]:
        """(kind, hashed form) readings of a run of digits."""
        plus = raw[:1] == b"+"
        digits = raw.translate(None, b" .-+").decode("ascii")
        out = self._readings(digits, plus)
        if len(digits) > 19 or (not out and b" " in raw):
            # Several fields ran together ("0612345678 1850375123456 ..."): try each window of
            # consecutive digit groups whose length fits one identifier.
            groups = [g.decode("ascii") for g in _SEP.split(raw.lstrip(b"+")) if g]
            for i in range(len(groups)):
                total = ""
                for j in range(i, min(len(groups), i + 8)):
                    total += groups[j]
                    if len(total) > 19:
                        break
                    if j > i or len(groups) > 1:
                        out.extend(self._readings(total, plus and i == 0))
        return out

    def _readings(self, digits: str, plus: bool) -> list[tuple[str, str]]:
        n = len(digits)
        out: list[tuple[str, str]] = []
        if plus:
            if 8 <= n <= 15:
                out.append(("phone", "+" + digits))
            return out
        if digits.startswith("00") and 10 <= n <= 17:
            out.append(("phone", "+" + digits[2:]))
        elif self._trunk and digits.startswith(self._trunk) and 9 <= n <= 12:
            out.append(("phone", "+" + self._cc + digits[len(self._trunk):]))
        elif digits.startswith(self._cc) and 10 <= n <= 13:
            out.append(("phone", "+" + digits))
        elif n == 9 and not digits.startswith("0"):
            out.append(("phone", "+" + self._cc + digits))
        if n in (13, 15) and digits[0] in "123478":
            out.append(("fr_nir", digits[:13]))
        if 12 <= n <= 19:
            out.append(("card", digits))
        return out

    def phrase_hashes(self, phrase: bytes) -> tuple[int, ...]:
        """Hashes (domain "name") of the 1..3-word grams of a phrase such as b"Jean-Pierre"."""
        cached = self._phrase_cache.get(phrase)
        if cached is not None:
            return cached
        words = [compact_name(fold(w)) for w in
                 _WORD_SPLIT.split(phrase.decode("utf-8", "ignore").strip(" _-'"))]
        words = words[:MAX_WORDS_PER_PHRASE]
        words = [w for w in words if w]
        grams: set[str] = set()
        for i in range(len(words)):
            gram = ""
            for j in range(i, min(len(words), i + NGRAM)):
                gram += words[j]
                grams.add(gram)
        out = tuple(self._hasher.hash(b"name", g) for g in grams)
        if len(self._phrase_cache) > _CACHE_LIMIT:
            self._phrase_cache.clear()
        self._phrase_cache[phrase] = out
        return out

    def row_names(self, row: bytes) -> set[int]:
        """Name-gram hashes of one row (bounded: at most MAX_PHRASES_PER_ROW phrases)."""
        out: set[int] = set()
        row = row[:MAX_ROW]
        if b"@" in row:  # "famille.legall@..." must not corroborate the last name "Le Gall"
            row = _EMAILISH.sub(b" ", row)
        for phrase in _PHRASE.findall(row)[:MAX_PHRASES_PER_ROW]:
            out.update(self.phrase_hashes(phrase))
        return out

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
        bounds = self.row_bounds(data)
        cand = DocCandidates(bounds=bounds)
        positions: list[int] = []
        hashes: list[int] = []
        kinds: list[str] = []
        hash_ = self._hasher.hash
        found: list[int] = []
        db, scratch = _scratch()
        db.scan(data, match_event_handler=_collect, context=found, scratch=scratch)
        date_pos: list[int] = []
        date_hashes: list[int] = []
        last_end = [-1, -1, -1, -1]
        for code in sorted(set(found)):
            start, id_ = code >> 2, code & 3
            if start < last_end[id_]:
                continue  # inside a candidate already read
            if id_ == _HS_NUM:
                m = _NUM_AT.match(data, start)
                if m is None:
                    continue
                last_end[id_] = m.end()
                for kind, value in self._number_values(m.group(1)):
                    positions.append(m.start(1))
                    hashes.append(hash_(_KIND_BYTES[kind], value))
                    kinds.append(kind)
            elif id_ == _HS_DATE:
                m = _DATE.match(data, start) or _DATE.match(data, start + 1)
                if m is None:
                    continue
                h = self._date_hash(m.group(), m)
                if h is not None:  # "23 Mary 1980-02-13": a bad month must not hide the date
                    last_end[id_] = m.end()
                    date_pos.append(m.start())
                    date_hashes.append(h)
            elif id_ == _HS_IBAN:
                m = _IBAN.match(data, start) or _IBAN.match(data, start + 1)
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
                hashes.append(hash_(b"iban", compact.decode("ascii")))
                kinds.append("iban")
            else:
                m = _NIR_2AB.match(data, start) or _NIR_2AB.match(data, start + 1)
                if m is None:
                    continue
                last_end[id_] = m.end()
                compact = _SEP.sub(b"", m.group()).upper().decode("ascii")
                positions.append(m.start())
                hashes.append(hash_(b"fr_nir", compact[:13]))
                kinds.append("fr_nir")
        emails: list[tuple[int, int]] = []
        at = data.find(b"@")
        while at != -1:
            local = _LOCAL.search(data, max(0, at - 64), at)
            dom = _DOMAIN.match(data, at + 1, at + 256) if local else None
            if local and dom:
                email = (local.group().lstrip(b".") + b"@" + dom.group()).lower()
                positions.append(local.start())
                hashes.append(hash_(b"email", email.decode("ascii")))
                kinds.append("email")
                emails.append((local.start(), dom.end()))
            at = data.find(b"@", at + 1)
        cand.emails = emails

        if positions:
            cand.strong_rows = np.searchsorted(bounds, positions).tolist()
            cand.strong_hashes = hashes
            cand.strong_kinds = kinds
        if date_pos:
            rows = np.searchsorted(bounds, date_pos).tolist()
            dates = cand.dates
            for r, h in zip(rows, date_hashes, strict=True):
                s = dates.get(r)
                if s is None:
                    dates[r] = {h}
                else:
                    s.add(h)
        return cand

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

    def names_in(self, view: bytes, start: int, end: int) -> set[int]:
        """Name-gram hashes of view[start:end] (a row of `phrase_view`), bounded per row."""
        out: set[int] = set()
        cache = self._phrase_cache
        for piece in view[start:min(end, start + MAX_ROW)].split()[:MAX_PHRASES_PER_ROW]:
            got = cache.get(piece)
            if got is None:
                got = self.phrase_hashes(piece)
            out.update(got)
        return out


def _iso(year: int, month: int, day: int) -> str | None:
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


_SPACE = np.zeros(256, dtype=bool)
_SPACE[list(b" \t\r\n")] = True


def _join_json_members(arr: np.ndarray, newlines: np.ndarray) -> np.ndarray:
    """Drop the newlines inside pretty-printed JSON objects, so that one object is one row.

    A newline is inside an object when the next line is indented and starts with a member
    (`"key": ...`) after a line ending with `{` or `,`, or starts with the closing `}`.
    """
    solid = np.flatnonzero(~_SPACE[arr])
    if solid.size == 0:
        return newlines
    after = np.searchsorted(solid, newlines)
    has_next = after < solid.size
    has_prev = after > 0
    nxt_pos = solid[np.minimum(after, solid.size - 1)]
    nxt = arr[nxt_pos]
    prv = arr[solid[np.maximum(after - 1, 0)]]
    indented = nxt_pos - newlines > 1
    member = (nxt == ord('"')) & ((prv == ord(",")) | (prv == ord("{")))
    closing = nxt == ord("}")
    inside = has_next & has_prev & indented & (member | closing)
    return newlines[~inside]


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
