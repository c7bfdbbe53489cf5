"""files: a drop folder an analyst copies dumps into; each file is scanned once.

Files are recognized by content hash, so a file renamed or copied twice is not reported again,
and a file whose content changes is. A file modified within `settle` seconds may still be
being written (a copy in progress) and is left for the next run.

Cursor: the SHA-256 hashes already recorded, and per file present (size, mtime, hash) so that
an unchanged file is not read again on every run. Hashing streams the file; a file over the
size cap becomes a document holding its first `max_item_mb` and flagged `truncated`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.collectors.base import (
    Batch,
    Collector,
    SourceConfig,
    dump_cursor,
    load_cursor,
    max_item_bytes,
    opt,
    require,
)
from monitor.config import Config, parse_duration
from monitor.errors import ConfigError
from monitor.models import Document

log = logging.getLogger(__name__)

KEYS = frozenset({"path", "settle", "recursive", "batch_size"})
CHUNK = 1 << 20
BATCH_BYTES = 64 << 20  # hand over a batch once it holds this much content


def hash_file(path: Path, cap: int) -> tuple[str, bytes, bool]:
    """(sha256 of the whole file, its first `cap` bytes, whether it was longer)."""
    h = hashlib.sha256()
    head = bytearray()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            if len(head) < cap:
                head.extend(chunk[: cap - len(head)])
    size = path.stat().st_size
    return h.hexdigest(), bytes(head), size > cap


class FilesCollector(Collector):
    platform = "files"

    def __init__(self, source: SourceConfig, config: Config, *,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(source)
        o, w = source.options, source.where
        self.path = config.resolve(require(o, "path", str, w))
        self.settle = parse_duration(opt(o, "settle", str, "5s", w), where=f"{w}: settle")
        self.recursive = opt(o, "recursive", bool, True, w)
        self.batch_size = opt(o, "batch_size", int, 20, w)
        self.max_bytes = max_item_bytes(source, config.network.max_response_mb)
        self._clock = clock

    def _candidates(self) -> list[Path]:
        if not self.path.is_dir():
            raise self.error(f"drop folder {self.path} does not exist or is not a folder")
        walker = self.path.rglob("*") if self.recursive else self.path.iterdir()
        files = [p for p in walker if p.is_file() and not p.is_symlink()
                 and not p.name.startswith(".")]
        return sorted(files, key=lambda p: (p.stat().st_mtime, str(p)))

    async def collect(self, cursor: str | None) -> AsyncIterator[Batch]:
        state = load_cursor(cursor, self.source.where)
        seen: list[str] = list(state.get("hashes", []))
        seen_set = set(seen)
        # relative path -> [size, mtime_ns, sha256]: files already hashed and unchanged since
        old_stats: dict[str, list] = state.get("stats", {})
        stats: dict[str, list] = {}
        now = self._clock()
        docs: list[Document] = []
        count = held = 0
        for p in self._candidates():
            try:
                st = p.stat()
                if now - st.st_mtime < self.settle:
                    log.info("source %s: %s changed %.1fs ago, leaving it for the next run",
                             self.name, p.name, now - st.st_mtime)
                    continue
                rel = str(p.relative_to(self.path))
                known = old_stats.get(rel)
                if (known and known[:2] == [st.st_size, st.st_mtime_ns]
                        and known[2] in seen_set):
                    stats[rel] = known
                    count += 1
                    continue
                # off the event loop: hashing a large dump must not stall other sources
                digest, head, truncated = await asyncio.to_thread(hash_file, p, self.max_bytes)
            except OSError as e:
                log.warning("source %s: cannot read %s: %s", self.name, p, e.strerror)
                continue
            stats[rel] = [st.st_size, st.st_mtime_ns, digest]
            count += 1
            if digest in seen_set:
                continue
            meta: dict[str, Any] = {"links": [], "sha256_full": digest, "bytes": st.st_size}
            if truncated:
                meta["truncated"] = True
            docs.append(Document(
                source=self.name, platform=self.platform, external_id=f"{rel}@{digest[:16]}",
                content=head, url=p.as_uri(), title=p.name, filename=p.name,
                posted_at=datetime.fromtimestamp(st.st_mtime, UTC), metadata=meta,
            ))
            seen.append(digest)
            seen_set.add(digest)
            held += len(head)
            if len(docs) >= self.batch_size or held >= BATCH_BYTES:
                yield Batch(docs, dump_cursor({"hashes": seen, "stats": {**old_stats, **stats}}),
                            count)
                docs, count, held = [], 0, 0
        # Files that are gone leave the stat cache (their hashes stay: a copy is still a repeat).
        if docs or cursor is None or stats != old_stats:
            yield Batch(docs, dump_cursor({"hashes": seen, "stats": stats}), count)


def build(source: SourceConfig, config: Config, state_dir: Path) -> FilesCollector:
    if "path" not in source.options:
        raise ConfigError(f"{source.where}: missing key 'path' (the drop folder)")
    return FilesCollector(source, config)


