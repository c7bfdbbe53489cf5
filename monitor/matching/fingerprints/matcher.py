"""`FingerprintSet`: which of our records appear in a document.

A record is recognized on a row of the document when
- one of its unique identifiers (NIR, e-mail, phone, IBAN, card) is there, or
- its last name, first name and birth date (the set's first `date` column) are all there.
Every other field of the record found on the same row corroborates the match and raises the
confidence. An identifier shared by several records (a family e-mail) names only the owners the
row corroborates; when nothing does, every owner is reported at a low confidence.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from monitor.errors import FingerprintError
from monitor.matching import _native, kinds
from monitor.matching.fingerprints.candidates import MAX_ROW, Extractor
from monitor.matching.fingerprints.hashing import Hasher
from monitor.matching.fingerprints.storage import load_array, read_meta, set_dir
from monitor.matching.keys import key_id
from monitor.models import RecordMatch

# How much one matching field says about the record being ours (see _confidence): each
# kind's `Kind.weight`, read from the kinds registry.
WEIGHTS: Mapping[str, float] = kinds.Column(lambda k: k.weight)
_ROWS_PER_BATCH = 16384  # rows cut into names at once in _combo_matches
_kind_order = kinds.position  # fields of a RecordMatch are listed in registry order
# Documents longer than WINDOW are matched in windows of about that size: the extractor keeps
# Python objects per candidate (~90 bytes of memory per byte of a dense dump), so a 64 MB
# document matched at once could take several GB. Consecutive windows overlap by up to
# OVERLAP bytes (a row is never longer than MAX_ROW), so a row cut by a window end is read
# whole by the next window.
WINDOW = 1 << 20
OVERLAP = MAX_ROW
_TAIL = 64 * 1024  # how far back from a window end a newline is looked for
# Windows up to SCREEN_MAX bytes go through the C screen first (messages, pastes: most hold
# none of our records and it turns them away cheaply). A bigger one is a dump, which the
# screen rarely turns away and where its combos of every dated row cost more than the
# matcher's own (bench.run, 1-4 MB dumps: 91 MB/s without the screen, 36 MB/s with it).
SCREEN_MAX = 64 * 1024
_SEPARATORS = re.compile(rb"[,;\t|}\])\n]")  # token ends: cutting after one splits no value


def _safe_cut(data: bytes, lo: int, hi: int, last: bool) -> int | None:
    """Offset just after the last (`last`) or first separator in data[lo:hi], if any."""
    if last:
        at = data.rfind(b"\n", lo, hi)
        if at != -1:
            return at + 1
        found = None
        for m in _SEPARATORS.finditer(data, lo, hi):
            found = m.end()
        return found
    first = _SEPARATORS.search(data, lo, hi)
    return first.end() if first else None


def windows(data: bytes, size: int = WINDOW, overlap: int = OVERLAP) -> list[tuple[int, int]]:
    """(start, end) of the windows `data` is matched in; one window when it is small.

    A window ends just after a newline when one is in its last _TAIL bytes (rows stay whole),
    else after a field separator, else anywhere (one huge line of digits). The next window
    starts up to `overlap` bytes earlier, after a separator so that no value is read cut.
    """
    n = len(data)
    out: list[tuple[int, int]] = []
    start = 0
    while n - start > size:
        hard = start + size
        end = _safe_cut(data, max(start + overlap + 1, hard - _TAIL), hard, last=True) or hard
        out.append((start, end))
        back = max(start + 1, end - overlap)
        start = _safe_cut(data, back, end - 1, last=False) or back
    out.append((start, n))
    return out


def _merge(found: dict[str, RecordMatch], matches: list[RecordMatch]) -> None:
    """Fold the matches of one window into `found` (union of fields, best confidence)."""
    for m in matches:
        old = found.get(m.record_id)
        if old is None:
            found[m.record_id] = m
            continue
        fields = set(old.fields) | set(m.fields)
        found[m.record_id] = RecordMatch(
            record_id=m.record_id,
            fields=tuple(sorted(fields, key=_kind_order)),
            confidence=max(old.confidence, m.confidence),
            canary=old.canary or m.canary,
        )


def _confidence(fields: set[str], shared_by: int = 1) -> float:
    """1 - prod(1 - w): more matching fields, higher confidence; an uncorroborated shared
    identifier counts for w / number of owners."""
    miss = 1.0
    for kind in fields:
        w = WEIGHTS.get(kind, 0.1)
        miss *= 1.0 - (w / shared_by if shared_by > 1 and len(fields) == 1 else w)
    return round(1.0 - miss, 3)


class _Table:
    """A sorted uint64 hash table (memory-mapped) with the records owning each hash.

    Lookups go through a bucket index on the top bits of the hash, built at load (the hashes
    are uniform, so a bucket holds a few entries): a query costs one or two cache misses in
    C instead of a binary search through tens of MB.
    """

    __slots__ = ("_hashes", "_index", "_owners", "_shift")

    def __init__(self, hashes: np.ndarray, owners: np.ndarray) -> None:
        self._hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
        self._owners = np.ascontiguousarray(owners, dtype=np.uint32)  # the map itself, as built
        bits = min(24, max(8, int(self._hashes.size).bit_length() - 1))  # 1-2 per bucket
        self._shift = 64 - bits
        self._index = np.frombuffer(_native.bucket_index(self._hashes, self._shift), np.uint32)

    @property
    def lookup_args(self) -> tuple[np.ndarray, np.ndarray, int]:
        """The sorted hashes, bucket index and shift, for the C reader's screen."""
        return self._hashes, self._index, self._shift

    def find(self, queries: np.ndarray) -> list[tuple[int, list[int]]]:
        """(index in `queries`, owner records) of each query present in the table."""
        if self._hashes.size == 0 or queries.size == 0:
            return []
        return _native.lookup_owners(self._hashes, self._index, self._shift, self._owners,
                                     np.ascontiguousarray(queries, dtype=np.uint64))


@dataclass(slots=True)
class _Row:
    """Evidence gathered on one row of a document: identifiers found there, then (for the rows
    that name some record, all at once in `_fill_rows`) its name grams and dates, and its
    fields as free text (lazily, only sets with text columns need them)."""

    start: int
    end: int
    strong: dict[int, set[tuple[str, int]]] = field(default_factory=dict)  # rec -> (kind, hash)
    names: set[int] = field(default_factory=set)
    dates: set[int] = field(default_factory=set)
    texts: set[int] | None = None


class FingerprintSet:
    """A loaded fingerprint set. Arrays are memory-mapped; `match` is thread-safe."""

    def __init__(self, name: str, path: Path, meta: dict, key: bytes) -> None:
        self.name = name
        self.path = path
        self.meta = meta
        self.records = int(meta["records"])
        self.weak_kinds: list[str] = list(meta.get("weak_kinds", []))
        self._weak_names = bool({"first_name", "last_name"} & set(self.weak_kinds))
        self._hasher = Hasher(key)
        held = {f.get("kind") for f in meta.get("fields", [])}
        self._extractor = Extractor(self._hasher, region=meta.get("region", "FR"),
                                    kinds=held & kinds.unique_names(), dates="date" in held)
        self._strong = _Table(load_array(path, "strong_h"), load_array(path, "strong_r"))
        combo_h = load_array(path, "combo_h")
        self._combo = _Table(combo_h, load_array(path, "combo_r"))
        self._weak = load_array(path, "weak")
        self._canary = load_array(path, "canary")
        self._ids_off = load_array(path, "ids_off")
        try:
            self._ids = np.memmap(path / "ids.bin", dtype=np.uint8, mode="r").view(np.ndarray) \
                if (path / "ids.bin").stat().st_size else np.zeros(0, np.uint8)
        except OSError as e:
            raise FingerprintError(f"fingerprint set {name!r}: cannot read ids.bin: {e}") from None
        if (self._weak.shape != (self.records, len(self.weak_kinds))
                or self._canary.shape[0] != self.records
                or self._ids_off.shape[0] != self.records + 1):
            raise FingerprintError(
                f"fingerprint set {name!r} at {path} is inconsistent (array sizes differ from "
                "meta.json); import it again"
            )
        last_j, first_j, date_j = meta.get("name_dob_columns") or (None, None, None)
        self._last_j, self._first_j, self._date_j = last_j, first_j, date_j
        self._has_combo = bool(meta.get("name_dob")) and combo_h.size > 0
        # birth dates and last names of the name+date records (derived for sets written
        # before these files existed)
        self._dob_h = self._distinct(path, "dob_h", date_j)
        self._extractor.set_last_names(self._distinct(path, "last_h", last_j))
        # the C screen answers "no record here" for most documents without the Python path
        # (see _match_window); kinds read in Python (no C reader) leave it to that path
        self._screen = self._extractor.screen_with(
            self._strong.lookup_args, self._combo.lookup_args if self._has_combo else None,
            self._dob_h)

    def _distinct(self, path: Path, name: str, column: int | None) -> np.ndarray:
        if not self._has_combo or column is None:
            return np.zeros(0, np.uint64)
        if (path / f"{name}.npy").exists():
            return load_array(path, name)
        values = np.unique(self._weak[:, column])
        return values[values != 0]

    @classmethod
    def load(cls, state_dir: Path, name: str, key: bytes) -> FingerprintSet:
        """Open set `name`; FingerprintError when missing, damaged or made with another key."""
        meta = read_meta(state_dir, name)
        if meta.get("key_id") != key_id(key):
            raise FingerprintError(
                f"fingerprint set {name!r} was built with a different key than the current one "
                "($LEAKMON_FINGERPRINT_KEY or fingerprint.key); use the key it was built with "
                "or import it again"
            )
        return cls(name, set_dir(state_dir, name), meta, key)

    def record_id(self, index: int) -> str:
        start, end = int(self._ids_off[index]), int(self._ids_off[index + 1])
        return bytes(self._ids[start:end]).decode("utf-8")

    def is_canary(self, index: int) -> bool:
        return bool(self._canary[index])

    # -- matching -----------------------------------------------------------------------

    def match(self, data: bytes) -> list[RecordMatch]:
        """Records of this set found in `data` (UTF-8 text of one document part).

        One RecordMatch per record, with the union of fields seen and the best confidence
        over the rows where it was found; sorted by confidence, then record id. Large
        documents are matched window by window (see WINDOW) to bound memory.
        """
        if not data or self.records == 0:
            return []
        if len(data) <= WINDOW:
            return self._match_window(data)
        found: dict[str, RecordMatch] = {}
        for start, end in windows(data):
            _merge(found, self._match_window(data[start:end]))
        return sorted(found.values(), key=lambda m: (-m.confidence, m.record_id))

    def _match_window(self, data: bytes) -> list[RecordMatch]:
        """`match` on one window (a whole small document)."""
        read = bounds = combos = None
        if self._screen is not None and len(data) <= SCREEN_MAX:
            screened = self._screen(data)
            if screened is None:
                return []
            read, bounds, combos = screened
        ex = self._extractor
        cand = ex.extract(data, read, bounds)
        rows: dict[int, _Row] = {}
        size = len(data)

        def row(r: int) -> _Row:
            got = rows.get(r)
            if got is None:
                start, end = cand.row_span(r, size)
                got = rows[r] = _Row(start, end)
            return got

        # 1. unique identifiers
        shared: list[tuple[int, int, list[int]]] = []  # (row, hash, owners) with > 1 owner
        if cand.strong_hashes.size:
            for i, owners in self._strong.find(cand.strong_hashes):
                r = int(cand.strong_rows[i])
                kind = cand.kind(i)
                h = int(cand.strong_hashes[i])
                rw = row(r)
                for rec in owners:
                    rw.strong.setdefault(rec, set()).add((kind, h))
                if len(owners) > 1:
                    shared.append((r, h, owners))

        # 2. last name + first name + birth date on the same row (found by the screen)
        combo_hits: dict[int, set[int]] = {}  # row -> records
        view: bytes | None = None
        if self._has_combo and cand.date_rows.size and self._dob_h.size:
            if combos is not None:
                found = self._combos_found(combos)
            else:
                view = ex.phrase_view(data, cand.email_spans)
                found = self._combo_matches(cand, view)
            for r, recs in found.items():
                combo_hits[r] = recs
                row(r)

        if not any(rw.strong for rw in rows.values()) and not combo_hits:
            return []
        if view is None:
            view = ex.phrase_view(data, cand.email_spans)
        return self._decide(data, view, cand, rows, shared, combo_hits)

    def _combos_found(self, combos: bytes) -> dict[int, set[int]]:
        """Records of the (row, last name + birth date sum) pairs the screen found in the
        combo table: row -> records, as `_combo_matches` gives them."""
        pairs = np.frombuffer(combos, dtype=np.uint64).reshape(-1, 2)
        hits: dict[int, set[int]] = {}
        rows = pairs[:, 0].tolist()
        for i, recs in self._combo.find(pairs[:, 1]):
            hits.setdefault(rows[i], set()).update(recs)
        return hits

    def _combo_matches(self, cand, view: bytes) -> dict[int, set[int]]:
        """Records whose last name and birth date are on the same row: row -> records.

        Only rows holding the birth date of some record are cut into names (chat time stamps,
        order dates ... are skipped without hashing a word), and only the words that are some
        record's last name are kept. Each (last name, birth date) pair of a row gives the sum
        the set stores for a record; all sums are looked up at once.
        """
        dob = self._dob_h
        pos = np.minimum(np.searchsorted(dob, cand.date_hashes), dob.size - 1)
        birth = dob[pos] == cand.date_hashes
        date_rows, date_hashes = cand.date_rows[birth], cand.date_hashes[birth]  # rows ascending
        if not date_rows.size:
            return {}
        # distinct rows; date_rows is sorted (dates are found in document order)
        candidates = date_rows[np.concatenate(([True], date_rows[1:] != date_rows[:-1]))]
        ex = self._extractor
        hits: dict[int, set[int]] = {}
        for at in range(0, len(candidates), _ROWS_PER_BATCH):  # bounded memory per batch
            name_h, name_rows = ex.names_of_rows(view, cand.bounds,
                                                 candidates[at:at + _ROWS_PER_BATCH],
                                                 last_names_only=True)
            # pair every name of a row with every birth date of that row (usually one)
            lo = np.searchsorted(date_rows, name_rows, side="left")
            per = np.searchsorted(date_rows, name_rows, side="right") - lo
            first = np.repeat(np.cumsum(per) - per, per)
            which = np.repeat(lo, per) + (np.arange(first.size) - first)
            # last-name hash + birth-date hash, as build.py stored them (uint64 wraps mod 2**64)
            sums = np.repeat(name_h, per) + date_hashes[which]
            pair_rows = np.repeat(name_rows, per)
            for i, recs in self._combo.find(sums):
                hits.setdefault(int(pair_rows[i]), set()).update(recs)
        return hits

    def _names_distinct(self, view: bytes, rw: _Row, rec: int) -> bool:
        """A record whose first and last names are the same ("François François") needs
        the name twice on the row; one "François" is not both of them."""
        last_j, first_j = self._last_j, self._first_j
        name = int(self._weak[rec, last_j])
        if name != int(self._weak[rec, first_j]):
            return True
        return self._extractor.name_count(view, rw.start, rw.end, name) >= 2

    @staticmethod
    def _support(strong: set[tuple[str, int]] | tuple, weak: set[str] | tuple,
                 shared_hash: int) -> float:
        """How much a row says about one owner of a shared identifier, besides that identifier."""
        return sum(WEIGHTS[k] for k, h in strong if h != shared_hash) + \
            sum(WEIGHTS.get(k, 0.1) for k in weak)

    def _weak_fields(self, data: bytes, view: bytes, cand, rw: _Row, r: int,
                     rec: int) -> set[str]:
        """Weak fields of record `rec` present on row `r`."""
        out: set[str] = set()
        hashes = self._weak[rec].tolist()
        for j, kind in enumerate(self.weak_kinds):
            h = hashes[j]
            if not h:
                continue
            if kind in ("first_name", "last_name"):
                if h in rw.names:
                    out.add(kind)
            elif kind == "date":
                if h in rw.dates:
                    out.add(kind)
            else:
                if rw.texts is None:
                    rw.texts = self._extractor.row_texts(data[rw.start:rw.end])
                if h in rw.texts:
                    out.add(kind)
        return out

    def _fill_rows(self, view: bytes, cand, rows: dict[int, _Row]) -> None:
        """Name grams and dates of every row in `rows`, in one C call and a bisection per row
        (a dump where many rows name our records would otherwise pay a call per row; plain
        lists, numpy costs more than it saves on a document's few rows)."""
        if self._weak_names:
            spans = [(rw.start, rw.end) for rw in rows.values()]
            for rw, names in zip(rows.values(), self._extractor.names_of_spans(view, spans),
                                 strict=True):
                rw.names = names
        if cand.date_rows.size:
            date_rows = cand.date_rows.tolist()  # ascending
            date_hashes: list[int] | None = None
            for r, rw in rows.items():
                a = bisect_left(date_rows, r)
                b = bisect_right(date_rows, r, a)
                if b > a:
                    if date_hashes is None:
                        date_hashes = cand.date_hashes.tolist()
                    rw.dates = set(date_hashes[a:b])

    def _decide(self, data: bytes, view: bytes, cand, rows: dict[int, _Row],
                shared: list[tuple[int, int, list[int]]],
                combo_hits: dict[int, set[int]]) -> list[RecordMatch]:
        self._fill_rows(view, cand, rows)
        # Evidence per (row, record): strong (kind, hash) pairs and weak kinds on that row.
        strong: dict[tuple[int, int], set[tuple[str, int]]] = {}
        weak: dict[tuple[int, int], set[str]] = {}
        for r, rw in rows.items():
            for rec, pairs in rw.strong.items():
                strong[(r, rec)] = pairs
                weak[(r, rec)] = self._weak_fields(data, view, cand, rw, r, rec)
        for r, recs in combo_hits.items():
            rw = rows[r]
            for rec in recs:
                fields = weak.get((r, rec))
                if fields is None:
                    fields = self._weak_fields(data, view, cand, rw, r, rec)
                if {"last_name", "first_name", "date"} <= fields and \
                        self._names_distinct(view, rw, rec):
                    weak[(r, rec)] = fields

        # A shared identifier names the owners the row corroborates best (a family in one
        # city: the city backs them all, the first name picks one); if nothing corroborates
        # any owner, all of them, each at a confidence divided by the number of owners.
        shared_by: dict[tuple[int, int], int] = {}
        for r, h, owners in shared:
            support = {rec: self._support(strong.get((r, rec), ()), weak.get((r, rec), ()), h)
                       for rec in owners}
            top = max(support.values())
            for rec in owners:
                if top > 0 and support[rec] < top:
                    strong.pop((r, rec), None)
                    weak.pop((r, rec), None)
                elif top == 0:
                    shared_by[(r, rec)] = len(owners)

        best: dict[int, tuple[float, set[str]]] = {}
        for (r, rec), fields in weak.items():
            kinds = {k for k, _ in strong.get((r, rec), ())} | fields
            if not kinds:
                continue
            conf = _confidence(kinds, shared_by.get((r, rec), 1))
            old = best.get(rec)
            best[rec] = (conf, kinds) if old is None else (max(old[0], conf), old[1] | kinds)

        out = [
            RecordMatch(
                record_id=self.record_id(rec),
                fields=tuple(sorted(fields, key=_kind_order)),
                confidence=conf,
                canary=self.is_canary(rec),
            )
            for rec, (conf, fields) in best.items()
        ]
        out.sort(key=lambda m: (-m.confidence, m.record_id))
        return out
