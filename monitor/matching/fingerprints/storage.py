"""On-disk layout of a fingerprint set: `<state_dir>/fingerprints/NAME/`, every file 0600.

    meta.json      name, creation time, counts, field kinds, key id, format version
    ids.bin        record ids (UTF-8) concatenated; ids_off.npy gives their offsets
    ids_off.npy    uint64[N+1]
    canary.npy     uint8[N], 1 for planted canary records
    strong_h.npy   uint64, sorted: keyed hashes of unique identifiers (NIR, e-mail, ...)
    strong_r.npy   uint32: record index of each strong_h entry (same order)
    weak.npy       uint64[N, W]: keyed hashes of weak fields per record (0 = empty)
    combo_h.npy    uint64, sorted: (last name hash + birth date hash) mod 2^64 per record
    combo_r.npy    uint32: record index of each combo_h entry
    dob_h.npy      uint64, sorted, distinct: birth date hashes of the name+date records (rows
                   whose dates are none of these are not searched for names)
    last_h.npy     uint64, sorted, distinct: last-name hashes of the name+date records (only
                   the words of a row that are one of these are paired with its dates)

Only keyed hashes and record ids are written; arrays are plain .npy so that loading is an mmap
(a 10^6-record set opens in milliseconds; the lookup indexes are built at load). A set is written in a temporary folder and renamed
into place, so readers never see half a set.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from monitor.errors import FingerprintError
from monitor.paths import write_secret

FORMAT_VERSION = 1
SETS_DIR = "fingerprints"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_set_name(name: str) -> str:
    """Set names become folder names: letters, digits, `_ . -`, at most 64 characters."""
    if not _NAME.match(name or "") or name in (".", ".."):
        raise FingerprintError(
            f"invalid fingerprint set name {name!r}: use letters, digits, '_', '.', '-' "
            "(at most 64 characters, starting with a letter or digit)"
        )
    return name


def sets_root(state_dir: Path) -> Path:
    return Path(state_dir) / SETS_DIR


def set_dir(state_dir: Path, name: str) -> Path:
    return sets_root(state_dir) / check_set_name(name)


@dataclass(slots=True)
class SetInfo:
    """What `fingerprints list/info` shows; read from meta.json only (no arrays loaded)."""

    name: str
    records: int
    canaries: int
    fields: list[dict[str, str]]  # [{"column": ..., "kind": ...}] in CSV order
    created: str  # ISO 8601, UTC
    key_id: str
    path: Path
    unusable_rows: int = 0
    weak_kinds: list[str] = field(default_factory=list)
    strong_entries: int = 0
    size_bytes: int = 0
    format: int = FORMAT_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "records": self.records,
            "canaries": self.canaries,
            "fields": self.fields,
            "created": self.created,
            "key_id": self.key_id,
            "unusable_rows": self.unusable_rows,
            "strong_entries": self.strong_entries,
            "size_bytes": self.size_bytes,
            "format": self.format,
            "path": str(self.path),
        }


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def write_set(state_dir: Path, name: str, meta: dict[str, Any], arrays: dict[str, np.ndarray],
              ids_blob: bytes, *, replace: bool) -> Path:
    """Write a complete set into place atomically; refuse to overwrite without `replace`."""
    root = sets_root(state_dir)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    final = set_dir(state_dir, name)
    if final.exists() and not replace:
        raise FingerprintError(
            f"fingerprint set {name!r} already exists in {root}; pass --replace to overwrite it"
        )
    tmp = root / f".{name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(mode=0o700)
    try:
        for array_name, array in arrays.items():
            write_secret(tmp / f"{array_name}.npy", _npy_bytes(array))
        write_secret(tmp / "ids.bin", ids_blob)
        write_secret(tmp / "meta.json",
                     json.dumps(meta, indent=2, sort_keys=True).encode("utf-8") + b"\n")
        if final.exists():
            old = root / f".{name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def read_meta(state_dir: Path, name: str) -> dict[str, Any]:
    """meta.json of set `name`; FingerprintError naming the set (and the existing ones)."""
    path = set_dir(state_dir, name) / "meta.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        existing = [s.name for s in list_sets(state_dir)]
        known = ", ".join(existing) if existing else "none"
        raise FingerprintError(
            f"fingerprint set {name!r} not found in {sets_root(state_dir)} "
            f"(existing sets: {known})"
        ) from None
    except (OSError, ValueError) as e:
        raise FingerprintError(f"fingerprint set {name!r}: cannot read {path}: {e}") from None
    if meta.get("format") != FORMAT_VERSION:
        raise FingerprintError(
            f"fingerprint set {name!r} has format {meta.get('format')!r}; this leakmon reads "
            f"format {FORMAT_VERSION}: import it again"
        )
    return meta


def info_from_meta(meta: dict[str, Any], path: Path) -> SetInfo:
    size = sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return SetInfo(
        name=meta["name"], records=int(meta["records"]), canaries=int(meta["canaries"]),
        fields=list(meta["fields"]), created=meta["created"], key_id=meta["key_id"],
        path=path, unusable_rows=int(meta.get("unusable_rows", 0)),
        weak_kinds=list(meta.get("weak_kinds", [])),
        strong_entries=int(meta.get("strong_entries", 0)), size_bytes=size,
        format=int(meta["format"]),
    )


def set_info(state_dir: Path, name: str) -> SetInfo:
    meta = read_meta(state_dir, name)
    return info_from_meta(meta, set_dir(state_dir, name))


def list_sets(state_dir: Path) -> list[SetInfo]:
    """Every readable set in the state directory, by name; broken folders are left out."""
    root = sets_root(state_dir)
    if not root.is_dir():
        return []
    out: list[SetInfo] = []
    for child in sorted(root.iterdir()):
        if child.name.startswith(".") or not child.is_dir():
            continue
        try:
            meta = json.loads((child / "meta.json").read_text(encoding="utf-8"))
            out.append(info_from_meta(meta, child))
        except (OSError, ValueError, KeyError):
            continue
    return out


def remove_set(state_dir: Path, name: str) -> Path:
    """Delete set `name`; FingerprintError when it does not exist."""
    path = set_dir(state_dir, name)
    if not path.is_dir():
        read_meta(state_dir, name)  # raises the not-found error listing existing sets
    shutil.rmtree(path)
    return path


def load_array(path: Path, name: str, *, mmap: bool = True) -> np.ndarray:
    """One array of a set, memory-mapped read-only by default. Returned as a plain ndarray
    view of the map: indexing a np.memmap builds a memmap object per row (slow on the
    per-hit path), a view does not, and it keeps the map open as its base."""
    try:
        array = np.load(path / f"{name}.npy", mmap_mode="r" if mmap else None,
                        allow_pickle=False)
    except (OSError, ValueError) as e:
        raise FingerprintError(f"fingerprint set at {path}: cannot read {name}.npy: {e}") from None
    return array.view(np.ndarray) if isinstance(array, np.memmap) else array
