"""Optional raw-evidence keeping: content gz-compressed under `<state_dir>/evidence/`, 0600.

Off by default because the raw content may be the very leak we protect; when switched on
(`[store] evidence = true`) files are named by the content's SHA-256 (the same dump seen
twice is kept once) and removed after `retention_days` by `Store.prune`.
"""

from __future__ import annotations

import contextlib
import gzip
import os
from datetime import datetime
from pathlib import Path

from monitor.errors import StoreError


class EvidenceStore:
    def __init__(self, root: Path, retention_days: int) -> None:
        self.root = root
        self.retention_days = retention_days

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.gz"

    def write(self, sha256: str, content: bytes) -> Path:
        """Write (or refresh the age of) the evidence file for this content."""
        path = self.path_for(sha256)
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.root, 0o700)
            if path.exists():
                os.utime(path)
                return path
            tmp = path.with_name(f".{path.name}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb",
                                                           mtime=0) as gz:
                gz.write(content)
            os.replace(tmp, path)
        except OSError as e:
            raise StoreError(f"cannot write evidence file {path}: {e.strerror}") from None
        return path

    def read(self, sha256: str) -> bytes:
        with gzip.open(self.path_for(sha256), "rb") as f:
            return f.read()

    def prune(self, now: datetime) -> int:
        """Delete evidence files older than the retention period; returns how many."""
        if not self.root.is_dir():
            return 0
        cutoff = now.timestamp() - self.retention_days * 86400
        removed = 0
        for path in self.root.glob("*/*.gz"):
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        return removed


