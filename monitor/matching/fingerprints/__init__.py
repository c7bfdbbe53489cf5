"""Record fingerprints: keyed hashes of our own records, to recognize them in leaked dumps.

Public API (used by `leakmon fingerprints`, `leakmon scan`, the engine and the daemon):

    import_csv(state_dir, name, csv_path, *, id_column, fields, key, ...) -> ImportReport
    build_set(state_dir, name, rows, *, id_column, fields, key, ...) -> ImportReport
    FingerprintSet.load(state_dir, name, key) -> FingerprintSet;  .match(data) -> [RecordMatch]
    load_fingerprint_sets(state_dir, names, key=None) -> {name: FingerprintSet}
    list_sets(state_dir) -> [SetInfo];  set_info(state_dir, name);  remove_set(state_dir, name)
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from monitor.matching.fingerprints.build import FieldSpec, ImportReport, build_set, import_csv
from monitor.matching.fingerprints.matcher import FingerprintSet
from monitor.matching.fingerprints.storage import SetInfo, list_sets, remove_set, set_info
from monitor.matching.keys import load_key

__all__ = [
    "FieldSpec",
    "FingerprintSet",
    "ImportReport",
    "SetInfo",
    "build_set",
    "import_csv",
    "list_sets",
    "load_fingerprint_sets",
    "remove_set",
    "set_info",
]


def load_fingerprint_sets(state_dir: Path, names: Iterable[str],
                          key: bytes | None = None) -> dict[str, FingerprintSet]:
    """Load every named set (duplicates ignored). A missing set raises FingerprintError naming
    it and the sets that do exist; the key is read (never created) when not given."""
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return {}
    if key is None:
        key = load_key(Path(state_dir), create=False)
    return {name: FingerprintSet.load(Path(state_dir), name, key) for name in wanted}
