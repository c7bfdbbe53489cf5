"""Building a fingerprint set from a CSV: normalize, hash, write. No plaintext leaves memory.

Each field is normalized by its kind (monitor.matching.identifiers.normalize) and hashed under
the key. Values that cannot be used (an e-mail without '@', a NIR whose key is wrong) are not
silently dropped: they are counted per column with the first row numbers, so the operator can
fix the export. A row whose id is empty or repeated is an error and is left out.
"""

from __future__ import annotations

import csv
import sys
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from monitor.errors import FingerprintError
from monitor.matching import kinds as registry
from monitor.matching.fingerprints.hashing import DOMAINS, HASH_BYTES, Hasher, fingerprint_value
from monitor.matching.fingerprints.storage import FORMAT_VERSION, set_dir, write_set
from monitor.matching.identifiers import normalize
from monitor.matching.keys import key_id
from monitor.models import utcnow

MAX_LISTED = 20  # row numbers kept per problem kind in the report
_TRUE = frozenset({"1", "true", "yes", "y", "x", "oui", "o", "canary", "vrai"})


@dataclass(slots=True, frozen=True)
class FieldSpec:
    """One `--field COL=KIND`: a CSV column and how its values are normalized."""

    column: str
    kind: str

    @classmethod
    def parse(cls, text: str) -> FieldSpec:
        column, sep, kind = text.rpartition("=")
        if not sep or not column or not kind:
            raise FingerprintError(f"--field {text!r}: expected COLUMN=KIND, e.g. nir=fr_nir")
        if kind not in registry.names():
            raise FingerprintError(f"--field {text!r}: unknown kind {kind!r}; expected one "
                                   f"of {', '.join(registry.names())}")
        return cls(column, kind)


@dataclass(slots=True)
class ProblemCount:
    """How many rows had one kind of problem, and the first of their row numbers."""

    count: int = 0
    rows: list[int] = field(default_factory=list)

    def add(self, row: int) -> None:
        self.count += 1
        if len(self.rows) < MAX_LISTED:
            self.rows.append(row)


@dataclass(slots=True)
class ImportReport:
    """The outcome of an import; row numbers are CSV line numbers (the header is line 1)."""

    name: str
    path: Path | None
    rows_read: int = 0
    records: int = 0
    canaries: int = 0
    unusable: dict[str, ProblemCount] = field(default_factory=dict)  # column -> problem rows
    unusable_rows: ProblemCount = field(default_factory=ProblemCount)  # rows with any
    no_usable_field: ProblemCount = field(default_factory=ProblemCount)  # rows left out
    empty_id: ProblemCount = field(default_factory=ProblemCount)
    duplicate_id: ProblemCount = field(default_factory=ProblemCount)
    warnings: list[str] = field(default_factory=list)

    @property
    def errors(self) -> int:
        """Rows that were left out because of their id (the CLI exits 1 when > 0)."""
        return self.empty_id.count + self.duplicate_id.count


def _check_fields(fields: Sequence[FieldSpec], id_column: str) -> list[str]:
    warnings: list[str] = []
    if not fields:
        raise FingerprintError("no --field given: name at least one COLUMN=KIND to fingerprint")
    seen = [f.column for f in fields]
    dupes = sorted({c for c in seen if seen.count(c) > 1})
    if dupes:
        raise FingerprintError(f"column(s) given twice in --field: {', '.join(dupes)}")
    if id_column in seen:
        raise FingerprintError(
            f"the id column {id_column!r} cannot also be a fingerprinted --field: record ids "
            "are stored in clear"
        )
    kinds = {f.kind for f in fields}
    unique = registry.unique_names()
    if not kinds & unique and not {"last_name", "first_name", "date"} <= kinds:
        listed = ", ".join(k for k in registry.names() if k in unique)
        warnings.append(
            f"no unique identifier ({listed}) and not the combination "
            "last_name + first_name + date: records of this set can never be recognized"
        )
    return warnings


def build_set(state_dir: Path, name: str, rows: Iterable[tuple[int, Mapping[str, str | None]]],
              *, id_column: str, fields: Sequence[FieldSpec], key: bytes,
              canary_column: str | None = None, region: str = "FR", replace: bool = False,
              progress: Callable[[int], None] | None = None) -> ImportReport:
    """Fingerprint `rows` ((line number, {column: value}) pairs) into set `name`."""
    if set_dir(state_dir, name).exists() and not replace:
        raise FingerprintError(
            f"fingerprint set {name!r} already exists in {set_dir(state_dir, name).parent}; "
            "pass --replace to overwrite it"
        )
    report = ImportReport(name=name, path=None)
    report.warnings.extend(_check_fields(fields, id_column))
    hasher = Hasher(key)
    unique = registry.unique_names()
    weak_cols = [i for i, f in enumerate(fields) if f.kind not in unique]
    weak_pos = {i: j for j, i in enumerate(weak_cols)}

    def first(kind: str) -> int | None:
        return next((weak_pos[i] for i in weak_cols if fields[i].kind == kind), None)

    last_j, first_j, date_j = first("last_name"), first("first_name"), first("date")
    ids: list[bytes] = []
    id_seen: set[str] = set()
    # array('Q'): 8 bytes a value instead of ~40 for a list of ints (10^6 records: ~5x less).
    canary = array("B")
    strong_h = array("Q")
    strong_r = array("I")
    weak_flat = array("Q")
    for f in fields:
        report.unusable[f.column] = ProblemCount()

    for line, row in rows:
        report.rows_read += 1
        if progress is not None and report.rows_read % 10000 == 0:
            progress(report.rows_read)
        rid = (row.get(id_column) or "").strip()
        if not rid:
            report.empty_id.add(line)
            continue
        if rid in id_seen:
            report.duplicate_id.add(line)
            continue
        index = len(ids)
        row_strong: list[int] = []
        weak = [0] * len(weak_cols)
        bad = False
        for i, f in enumerate(fields):
            raw = row.get(f.column)
            if raw is None or not raw.strip():
                continue
            norm = normalize(f.kind, raw, region=region)
            value = fingerprint_value(f.kind, norm) if norm is not None else None
            if value is None:
                report.unusable[f.column].add(line)
                bad = True
                continue
            h = hasher.hash(DOMAINS[f.kind], value)
            if f.kind in unique:
                row_strong.append(h)
            else:
                weak[weak_pos[i]] = h
        if bad:
            report.unusable_rows.add(line)
        if not row_strong and not any(weak):
            report.no_usable_field.add(line)
            continue
        id_seen.add(rid)
        ids.append(rid.encode("utf-8"))
        for h in dict.fromkeys(row_strong):
            strong_h.append(h)
            strong_r.append(index)
        weak_flat.extend(weak)
        flag = (row.get(canary_column) or "") if canary_column else ""
        canary.append(1 if flag.strip().casefold() in _TRUE else 0)

    n = len(ids)
    report.records = n
    report.canaries = sum(canary)
    report.unusable = {c: p for c, p in report.unusable.items() if p.count}
    if n == 0:
        raise FingerprintError(
            f"fingerprint set {name!r}: no usable record in {report.rows_read} row(s); "
            "nothing was written"
        )
    arrays = _arrays(ids, canary, strong_h, strong_r, weak_flat, len(weak_cols),
                     (last_j, first_j, date_j))
    offsets = np.zeros(n + 1, dtype=np.uint64)
    offsets[1:] = np.cumsum([len(b) for b in ids], dtype=np.uint64)
    arrays["ids_off"] = offsets
    meta = {
        "format": FORMAT_VERSION,
        "name": name,
        "created": utcnow().isoformat(timespec="seconds"),
        "records": n,
        "canaries": report.canaries,
        "fields": [{"column": f.column, "kind": f.kind} for f in fields],
        "weak_kinds": [fields[i].kind for i in weak_cols],
        "name_dob": None not in (last_j, first_j, date_j),
        "name_dob_columns": [last_j, first_j, date_j],
        "key_id": key_id(key),
        "hash": f"hmac-sha256/{HASH_BYTES * 8}",
        "region": region,
        "rows_read": report.rows_read,
        "unusable_rows": report.unusable_rows.count,
        "strong_entries": int(arrays["strong_h"].size),
    }
    report.path = write_set(state_dir, name, meta, arrays, b"".join(ids), replace=replace)
    return report


def _arrays(ids: list[bytes], canary: array, strong_h: array, strong_r: array,
            weak_flat: array, width: int,
            name_dob: tuple[int | None, int | None, int | None]) -> dict[str, np.ndarray]:
    sh = np.frombuffer(strong_h, dtype=np.uint64) if strong_h else np.zeros(0, np.uint64)
    sr = np.frombuffer(strong_r, dtype=np.uint32) if strong_r else np.zeros(0, np.uint32)
    order = np.argsort(sh, kind="stable")
    weak = (np.frombuffer(weak_flat, dtype=np.uint64) if weak_flat
            else np.zeros(0, np.uint64)).reshape(len(ids), width)
    last_j, first_j, date_j = name_dob
    if last_j is not None and first_j is not None and date_j is not None:
        ok = (weak[:, last_j] != 0) & (weak[:, first_j] != 0) & (weak[:, date_j] != 0)
        rec = np.flatnonzero(ok).astype(np.uint32)
        combo = weak[rec, last_j] + weak[rec, date_j]  # uint64 arithmetic wraps mod 2^64
        corder = np.argsort(combo, kind="stable")
        combo_h, combo_r = combo[corder], rec[corder]
        dob_h = np.unique(weak[rec, date_j])
        last_h = np.unique(weak[rec, last_j])
    else:
        combo_h, combo_r = np.zeros(0, np.uint64), np.zeros(0, np.uint32)
        dob_h = last_h = np.zeros(0, np.uint64)
    return {
        "canary": np.frombuffer(canary, dtype=np.uint8).copy(),
        "strong_h": sh[order],
        "strong_r": sr[order],
        "weak": weak,
        "combo_h": combo_h,
        "combo_r": combo_r,
        "dob_h": dob_h,
        "last_h": last_h,
    }


def _csv_rows(reader: csv.DictReader) -> Iterable[tuple[int, dict[str, str | None]]]:
    for row in reader:
        yield reader.line_num, row


def import_csv(state_dir: Path, name: str, csv_path: Path, *, id_column: str,
               fields: Sequence[FieldSpec], key: bytes, canary_column: str | None = None,
               delimiter: str = ",", encoding: str = "utf-8-sig", region: str = "FR",
               replace: bool = False,
               progress: Callable[[int], None] | None = None) -> ImportReport:
    """Build set `name` from a CSV file with a header row (see build_set).

    UTF-8 is read as "utf-8-sig": Excel writes a byte-order mark that would otherwise stick
    to the first column name ("\\ufeffid"); files without one read the same.
    """
    path = Path(csv_path)
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        encoding = "utf-8-sig"
    if len(delimiter) != 1:
        raise FingerprintError(f"--delimiter must be one character, got {delimiter!r}")
    try:
        handle = path.open("r", encoding=encoding, newline="", errors="strict")
    except FileNotFoundError:
        raise FingerprintError(f"CSV file {path} does not exist") from None
    except LookupError:
        raise FingerprintError(f"unknown encoding {encoding!r} for {path}") from None
    except OSError as e:
        raise FingerprintError(f"cannot read CSV file {path}: {e.strerror}") from None
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    with handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        try:
            header = reader.fieldnames or []
        except UnicodeDecodeError as e:
            raise FingerprintError(
                f"{path}: not valid {encoding} at the start of the file ({e.reason}); "
                "pass --encoding (e.g. cp1252)"
            ) from None
        except csv.Error as e:
            raise FingerprintError(f"{path}: cannot read the header row: {e}") from None
        wanted = [id_column, *(f.column for f in fields)]
        if canary_column:
            wanted.append(canary_column)
        missing = [c for c in wanted if c not in header]
        if missing:
            raise FingerprintError(
                f"{path}: column(s) {', '.join(map(repr, missing))} not in the header; "
                f"columns are: {', '.join(header) or '(none)'}"
            )
        try:
            return build_set(state_dir, name, _csv_rows(reader), id_column=id_column,
                             fields=fields, key=key, canary_column=canary_column,
                             region=region, replace=replace, progress=progress)
        except UnicodeDecodeError as e:
            raise FingerprintError(
                f"{path}: not valid {encoding} near line {reader.line_num + 1} ({e.reason}); "
                "pass --encoding (e.g. cp1252)"
            ) from None
        except csv.Error as e:
            raise FingerprintError(f"{path}: line {reader.line_num}: {e}") from None
