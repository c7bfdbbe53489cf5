"""`FingerprintSet`: which of our records appear in a document.

A record is recognized on a row of the document when
- one of its unique identifiers (NIR, e-mail, phone, IBAN, card) is there, or
- its last name, first name and birth date (the set's first `date` column) are all there.
Every other field of the record found on the same row corroborates the match and raises the
confidence. An identifier shared by several records (a family e-mail) names only the owners the
row corroborates; when nothing does, every owner is reported at a low confidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from monitor.errors import FingerprintError
from monitor.matching.fingerprints.candidates import Extractor
from monitor.matching.fingerprints.hashing import Hasher
from monitor.matching.fingerprints.storage import load_array, read_meta, set_dir
from monitor.matching.identifiers import KINDS
from monitor.matching.keys import key_id
from monitor.models import RecordMatch

_MASK = (1 << 64) - 1
# How much one matching field says about the record being ours (see _confidence).
WEIGHTS: dict[str, float] = {
    "fr_nir": 0.95, "iban": 0.95, "card": 0.95, "email": 0.85, "phone": 0.8,
    "last_name": 0.3, "first_name": 0.2, "date": 0.3, "text": 0.1,
}
_KIND_ORDER = {k: i for i, k in enumerate(KINDS)}


def _confidence(fields: set[str], shared_by: int = 1) -> float:
    """1 - prod(1 - w): more matching fields, higher confidence; an uncorroborated shared
    identifier counts for w / number of owners."""
    miss = 1.0
    for kind in fields:
        w = WEIGHTS.get(kind, 0.1)
        miss *= 1.0 - (w / shared_by if shared_by > 1 and len(fields) == 1 else w)
    return round(1.0 - miss, 3)


@dataclass(slots=True)
class _Row:
    """Evidence gathered on one row of a document (computed lazily)."""

    start: int
    end: int
    strong: dict[int, set[tuple[str, int]]] = field(default_factory=dict)  # rec -> (kind, hash)
    names: set[int] | None = None
    texts: set[int] | None = None


class FingerprintSet:
    """A loaded fingerprint set. Arrays are memory-mapped; `match` is thread-safe."""

    def __init__(self, name: str, path: Path, meta: dict, key: bytes) -> None:
        self.name = name
        self.path = path
        self.meta = meta
        self.records = int(meta["records"])
        self.weak_kinds: list[str] = list(meta.get("weak_kinds", []))
        self._hasher = Hasher(key)
        self._extractor = Extractor(self._hasher, region=meta.get("region", "FR"))
        self._strong_h = load_array(path, "strong_h")
        self._strong_r = load_array(path, "strong_r")
        self._combo_h = load_array(path, "combo_h")
        self._combo_r = load_array(path, "combo_r")
        self._weak = load_array(path, "weak")
        self._canary = load_array(path, "canary")
        self._ids_off = load_array(path, "ids_off")
        try:
            self._ids = np.memmap(path / "ids.bin", dtype=np.uint8, mode="r") \
                if (path / "ids.bin").stat().st_size else np.zeros(0, np.uint8)
        except OSError as e:
            raise FingerprintError(f"fingerprint set {name!r}: cannot read ids.bin: {e}") from None
        if self._weak.shape != (self.records, len(self.weak_kinds)) \
                or self._canary.shape[0] != self.records or self._ids_off.shape[0] != self.records + 1:
            raise FingerprintError(
                f"fingerprint set {name!r} at {path} is inconsistent (array sizes differ from "
                "meta.json); import it again"
            )
        last_j, first_j, date_j = meta.get("name_dob_columns") or (None, None, None)
        self._last_j, self._first_j, self._date_j = last_j, first_j, date_j
        self._has_combo = bool(meta.get("name_dob")) and self._combo_h.size > 0

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

    def _owners(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each hash: [left, right) range of its owners in the strong table."""
        left = np.searchsorted(self._strong_h, hashes, side="left")
        right = np.searchsorted(self._strong_h, hashes, side="right")
        return left, right, np.flatnonzero(right > left)

    def match(self, data: bytes) -> list[RecordMatch]:
        """Records of this set found in `data` (UTF-8 text of one document part).

        One RecordMatch per record, with the union of fields seen and the best confidence
        over the rows where it was found; sorted by confidence, then record id.
        """
        if not data or self.records == 0:
            return []
        ex = self._extractor
        cand = ex.extract(data)
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
        if cand.strong_hashes:
            hashes = np.array(cand.strong_hashes, dtype=np.uint64)
            left, right, found = self._owners(hashes)
            for i in found.tolist():
                owners = self._strong_r[left[i]:right[i]].tolist()
                r = cand.strong_rows[i]
                kind = cand.strong_kinds[i]
                h = cand.strong_hashes[i]
                rw = row(r)
                for rec in owners:
                    rw.strong.setdefault(rec, set()).add((kind, h))
                if len(owners) > 1:
                    shared.append((r, h, owners))

        # 2. last name + first name + birth date on the same row
        combo_hits: dict[int, set[int]] = {}  # row -> records
        view: bytes | None = None
        if self._has_combo and cand.dates:
            view = ex.phrase_view(data, cand.emails)
            sums: list[int] = []
            sum_rows: list[int] = []
            for r, dates in cand.dates.items():
                start, end = cand.row_span(r, size)
                names = ex.names_in(view, start, end)
                if not names:
                    continue
                if r in rows:
                    rows[r].names = names
                for d in dates:
                    sums.extend([(d + n) & _MASK for n in names])
                    sum_rows.extend([r] * len(names))
            if sums:
                arr = np.array(sums, dtype=np.uint64)
                left = np.searchsorted(self._combo_h, arr, side="left")
                right = np.searchsorted(self._combo_h, arr, side="right")
                for i in np.flatnonzero(right > left).tolist():
                    for rec in self._combo_r[left[i]:right[i]].tolist():
                        combo_hits.setdefault(sum_rows[i], set()).add(rec)
            for r in combo_hits:
                row(r)

        if not any(rw.strong for rw in rows.values()) and not combo_hits:
            return []
        if view is None:
            view = ex.phrase_view(data, cand.emails)
        return self._decide(data, view, cand, rows, shared, combo_hits)

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
                if rw.names is None:
                    rw.names = self._extractor.names_in(view, rw.start, rw.end)
                if h in rw.names:
                    out.add(kind)
            elif kind == "date":
                if h in cand.dates.get(r, ()):
                    out.add(kind)
            else:
                if rw.texts is None:
                    rw.texts = self._extractor.row_texts(data[rw.start:rw.end])
                if h in rw.texts:
                    out.add(kind)
        return out

    def _decide(self, data: bytes, view: bytes, cand, rows: dict[int, _Row],
                shared: list[tuple[int, int, list[int]]],
                combo_hits: dict[int, set[int]]) -> list[RecordMatch]:
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
                if {"last_name", "first_name", "date"} <= fields:
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
                fields=tuple(sorted(fields, key=_KIND_ORDER.__getitem__)),
                confidence=conf,
                canary=self.is_canary(rec),
            )
            for rec, (conf, fields) in best.items()
        ]
        out.sort(key=lambda m: (-m.confidence, m.record_id))
        return out
