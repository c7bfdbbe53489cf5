"""What makes two documents "the same leak": content keys, MinHash/LSH, record-set overlap.

- Exact: the HMAC-SHA-256 of the normalized content under the dedup key, a subkey derived from
  the fingerprint key (`dedup_subkey`). The content key travels to every sink and is stored, so a
  plain hash would let anyone who receives alerts confirm a guess of the leaked text offline;
  keyed, it is still stable (same content, same key) for whoever holds the key. Normalizing (NFKC, case-folded, whitespace
  collapsed, delimited rows with their fields sorted, decoration-only lines dropped, lines
  de-duplicated and sorted) makes re-encoded, re-ordered and re-spaced copies hash alike.
- Near-duplicate: a MinHash over the normalized lines (plus word 3-shingles for short posts, where
  a changed header or footer is a large share of the lines), looked up by its LSH bands in the
  store (shared by every worker, see monitor.store.lsh), then compared exactly.
- Huge dumps: at most `MAX_LINES` lines are normalized and hashed, chosen by a bottom-k sample
  over a column-order-independent key of each line (not at random), so that two copies of one
  dump keep (mostly) the same sample; the content key of such a dump is then the hash of the
  sample, which still matches exact copies.
- Records: for fingerprint hits, two documents sharing most of their matched records are one leak
  even when the text around them differs completely.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from datasketch import MinHash

from monitor.store.lsh import NUM_PERM, band_keys

if TYPE_CHECKING:
    from monitor.store import Store

LSH_THRESHOLD = 0.5  # estimated Jaccard above which a document joins an incident
MAX_LINES = 50_000  # sample cap for the MinHash of huge documents
SHORT_DOC_LINES = 32  # below this many distinct lines, add word 3-shingles
MAX_NORMALIZE_BYTES = 64 * 1024 * 1024  # as matching's default max_document_mb
DEDUP_KEY_LABEL = b"leakmon dedup key v1"  # derivation label: the dedup key != fingerprint key
MIN_DEDUP_KEY_BYTES = 32

_FIELD_SPLIT = re.compile(r"\s*[,;\t|]\s*")
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"\w+")
_ALNUM = re.compile(r"[^\W_]")
_QUOTES = "\"'`"


@dataclass(slots=True)
class ContentFingerprint:
    """What dedup needs from a document's content; never the content itself."""

    content_key: str  # "c:" + HMAC-SHA-256 hex of the normalized content under the dedup key
    minhash: MinHash
    lines: int  # distinct normalized lines
    sampled: bool  # True when only a hash-chosen sample of lines went into the MinHash
    bands: list[int] = field(default_factory=list)  # LSH band keys (monitor.store.lsh)


def normalize_line(line: str) -> str:
    """One line in a form that survives re-formatting; '' for lines without letters or digits."""
    if line.isascii():
        line = line.lower().strip()
    else:
        line = unicodedata.normalize("NFKC", line).casefold().strip()
    if not _ALNUM.search(line):
        return ""
    fields = _FIELD_SPLIT.split(line)
    if len(fields) > 1:
        cleaned = sorted(f.strip(_QUOTES + " ") for f in fields)
        return "\x1f".join(f for f in cleaned if f)
    return _SPACES.sub(" ", line.strip(_QUOTES + " "))


def _sample_key(line: str) -> int:
    """A cheap per-line key that ignores column order, quoting, spacing and case: the CRC of
    the line's greatest word. Copies of a dump therefore sample the same rows."""
    words = _WORD.findall(line.lower())
    return zlib.crc32(max(words).encode()) if words else 0xFFFFFFFF


def sample_raw_lines(lines: list[str], cap: int = MAX_LINES) -> tuple[list[str], bool]:
    """Bottom-k sample: the `cap` lines with the smallest keys (no size tiers, so two copies of
    different lengths still pick mostly the same rows)."""
    if len(lines) <= cap:
        return lines, False
    keys = np.fromiter((_sample_key(x) for x in lines), dtype=np.uint64, count=len(lines))
    cut = np.partition(keys, cap - 1)[cap - 1]
    return [x for x, k in zip(lines, keys < cut, strict=True) if k], True


def normalize_lines(data: bytes, cap: int | None = -1) -> tuple[list[str], bool]:
    """Distinct normalized lines, sorted (row order does not matter for a dump), and whether
    they are a sample (documents with more than `cap` lines, default MAX_LINES, are sampled
    before normalizing; None: never)."""
    text = data[:MAX_NORMALIZE_BYTES].decode("utf-8", errors="replace")
    raw = text.splitlines()
    sampled = False
    if cap is not None:
        raw, sampled = sample_raw_lines(raw, MAX_LINES if cap == -1 else cap)
    return sorted({n for n in (normalize_line(x) for x in raw) if n}), sampled


_TEMPLATE = MinHash(num_perm=NUM_PERM)  # its permutations are reused: building them costs more


def new_minhash(hashvalues: np.ndarray | None = None, scheme: str | None = None) -> MinHash:
    """A MinHash with the shared permutations (same seed as MinHash(num_perm=NUM_PERM))."""
    if hashvalues is not None and len(hashvalues) != NUM_PERM:
        return MinHash(num_perm=len(hashvalues), hashvalues=hashvalues, scheme=scheme)
    return MinHash(num_perm=NUM_PERM, hashvalues=hashvalues, permutations=_TEMPLATE.permutations,
                   scheme=scheme or _TEMPLATE.scheme)


def shingles(lines: list[str]) -> list[bytes]:
    """The MinHash elements: each line, plus word 3-grams when the document is short."""
    out = {("L" + x).encode() for x in lines}
    if len(lines) < SHORT_DOC_LINES:
        words = _WORD.findall(" ".join(lines))
        if len(words) < 3:
            out.update(("W" + w).encode() for w in words)
        else:
            out.update(("S" + " ".join(words[i:i + 3])).encode()
                       for i in range(len(words) - 2))
    return sorted(out)


def dedup_subkey(fingerprint_key: bytes) -> bytes:
    """The dedup key: HMAC(fingerprint key, DEDUP_KEY_LABEL), so content keys and record
    fingerprints never share a key (and a content key says nothing about record hashes)."""
    return hmac.new(fingerprint_key, DEDUP_KEY_LABEL, hashlib.sha256).digest()


def load_dedup_key(state_dir: Path) -> bytes:
    """The dedup key derived from the fingerprint key of `state_dir` ($LEAKMON_FINGERPRINT_KEY,
    the systemd credential, or `<state_dir>/fingerprint.key`, created 0600 when missing)."""
    from monitor.matching.keys import load_key

    return dedup_subkey(load_key(Path(state_dir)))


def fingerprint(data: bytes, sha256: str | None = None, *, key: bytes) -> ContentFingerprint:
    """Content key and MinHash of one document's bytes; `key` is the dedup key."""
    if len(key) < MIN_DEDUP_KEY_BYTES:
        raise ValueError(f"the dedup key must be at least {MIN_DEDUP_KEY_BYTES} bytes long")
    lines, sampled = normalize_lines(data)
    if lines:
        message = "\n".join(lines).encode()
    else:  # nothing textual: fall back to the raw bytes
        message = (sha256 or hashlib.sha256(data).hexdigest()).encode()
    content_key = hmac.new(key, message, hashlib.sha256).hexdigest()
    mh = new_minhash()
    elements = shingles(lines)
    if elements:
        mh.update_batch(elements)
    return ContentFingerprint(f"c:{content_key}", mh, len(lines), sampled,
                              band_keys(mh.hashvalues))


def lock_keys(fp: ContentFingerprint, records: Iterable[str] = ()) -> Iterator[int]:
    """The keys to lock before finding or creating the incident of a document (shared by
    workers): its content key, its LSH band keys, and one per fingerprint set it matched
    records of. Two documents that can end up in one new incident share a key: an equal
    content key (exact), a band (near-duplicate candidates share one), or a set (records).
    Lazy: a store that needs no such locks (SQLite) never computes them."""
    yield from fp.bands
    for name in (f"c\x00{fp.content_key}", *(f"r\x00{s}" for s in records)):
        digest = hashlib.blake2b(name.encode(), digest_size=8, person=b"leakmon lock").digest()
        yield int.from_bytes(digest, "little", signed=True)


def minhash_from(scheme: str, hashvalues: np.ndarray) -> MinHash:
    return new_minhash(hashvalues, scheme)


class NearDuplicateIndex:
    """Near-duplicate lookup over the signatures of documents that belong to incidents.

    The index is the store's: signatures and their LSH bands (monitor.store.lsh) are written in
    the transaction of the sighting and looked up by band, so every worker sharing the store
    sees every other worker's committed documents, a rolled-back batch leaves nothing behind,
    and nothing is held or rebuilt per process.
    """

    def __init__(self, store: Store, threshold: float = LSH_THRESHOLD) -> None:
        self.store = store
        self.threshold = threshold

    def __len__(self) -> int:
        return self.store.count_minhashes()

    @classmethod
    def from_store(cls, store: Store, threshold: float = LSH_THRESHOLD) -> NearDuplicateIndex:
        return cls(store, threshold)

    def add(self, document_id: int, incident_id: int, mh: MinHash,
            bands: list[int] | None = None) -> None:
        """Index `document_id` (of `incident_id`); part of the caller's transaction.
        `bands`: the signature's band keys when already known (ContentFingerprint.bands)."""
        self.store.save_minhash(document_id, incident_id, mh.scheme, mh.hashvalues,
                                bands=bands)

    def best(self, mh: MinHash, bands: list[int] | None = None) -> tuple[int, float] | None:
        """The incident whose document is most similar to `mh` (>= threshold), with its score."""
        best: tuple[int, float] | None = None
        keys = band_keys(mh.hashvalues) if bands is None else bands
        for row in self.store.minhash_candidates(keys):
            score = mh.jaccard(minhash_from(row.scheme, row.hashvalues))
            if score >= self.threshold and (best is None or score > best[1]):
                best = (row.incident_id, score)
        return best


def records_overlap(shared: int, mine: int, theirs: int, *, min_containment: float = 0.6,
                    min_jaccard: float = 0.3) -> float:
    """Score (0 = not the same leak) for two matched-record sets sharing `shared` records.

    Containment (shared / smaller set) catches a sample re-posted from a bigger dump; Jaccard
    catches two overlapping extracts. A single shared record is enough only when one side has
    just that one record: otherwise one person appearing in two unrelated dumps would merge them.
    """
    if shared <= 0 or mine <= 0 or theirs <= 0:
        return 0.0
    smaller = min(mine, theirs)
    if shared < min(2, smaller):
        return 0.0
    containment = shared / smaller
    jaccard = shared / (mine + theirs - shared)
    if containment >= min_containment or jaccard >= min_jaccard:
        return max(containment, jaccard)
    return 0.0


def record_sets(hits: Iterable) -> dict[str, dict[str, bool]]:
    """{fingerprint set: {record id: canary}} from a document's hits."""
    out: dict[str, dict[str, bool]] = {}
    for h in hits:
        if h.fingerprint_set is None:
            continue
        records = out.setdefault(h.fingerprint_set, {})
        for r in h.records:
            records[r.record_id] = records.get(r.record_id, False) or r.canary
    return out
