"""One batch from a collector: skip what was seen, scan the rest, record it, update incidents,
queue notifications, save the cursor — atomically.

Scanning (CPU) happens before the transaction; every write of the batch (documents, hits,
incidents, sightings, outbox rows, and last the source cursor) happens in ONE store transaction.
A crash anywhere leaves either all of the batch or none of it, and the cursor only moves with
the documents it covers, so a restart neither loses nor repeats a document.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitor.alerting.dedup import (
    ContentFingerprint,
    NearDuplicateIndex,
    fingerprint,
    load_dedup_key,
)
from monitor.alerting.incidents import IncidentTracker, SinkLike, top_hit
from monitor.alerting.triage import expire_snoozes
from monitor.models import Document, Hit, utcnow
from monitor.store import Store

if TYPE_CHECKING:
    from monitor.matching.document_scan import EngineLike
    from monitor.matching.extract import Limits, Part

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ScanOutcome:
    """Hits of one document and, optionally, its extracted text (archives unpacked, decoded):
    dedup then compares what people read rather than container bytes."""

    hits: list[Hit]
    text: bytes | None = None


# A document scanner takes a document and returns its hits (a list, or a ScanOutcome with
# the text).
DocumentScanner = Callable[[Document], "list[Hit] | ScanOutcome"]


@dataclass(slots=True)
class BatchResult:
    documents: int = 0  # documents recorded (new or edited)
    hits: int = 0
    new_incidents: int = 0
    notifications: int = 0  # notifications created (each queued once per accepting sink)
    skipped: int = 0  # exact repeats, not scanned again
    updated: int = 0  # edited documents (same source item, new content)
    errors: int = 0  # documents whose scan failed; recorded with the error, no hits
    incident_ids: list[int] = field(default_factory=list)


@dataclass(slots=True)
class _Scanned:
    doc: Document
    sha256: str
    hits: list[Hit]
    error: str | None
    text: bytes | None = None


def document_passwords(doc: Document) -> tuple:
    """Archive passwords for a file: its post's caption, the source's `archive_passwords` and
    the channel name, as the collector put them in the metadata (attachments.archive_context)."""
    from monitor.matching.readers.passwords import candidates

    meta = doc.metadata or {}
    return candidates(meta.get("caption"), meta.get("archive_passwords") or (),
                      meta.get("channel"))


class _Passwords(Sequence):
    """`document_passwords(doc)`, built on first use: only a locked archive asks for them, and
    a plain message (the common document) never does."""

    __slots__ = ("_doc", "_items")

    def __init__(self, doc: Document) -> None:
        self._doc = doc
        self._items: tuple | None = None

    def _get(self) -> tuple:
        if self._items is None:
            self._items = document_passwords(self._doc)
        return self._items

    def __getitem__(self, i: Any) -> Any:
        return self._get()[i]

    def __len__(self) -> int:
        return len(self._get())


def engine_scanner(engine: EngineLike, limits: Limits | None = None) -> DocumentScanner:
    """The production scanner: monitor.matching.document_scan.scan_document with the engine."""
    from monitor.matching.document_scan import scan_document

    if limits is None:
        from monitor.config import MatchingConfig
        from monitor.matching.extract import Limits

        limits = Limits.from_config(MatchingConfig())

    def scan(doc: Document) -> ScanOutcome:
        texts: list[bytes] = []

        def keep(part: Part) -> None:
            if part.skipped is None and part.data:
                texts.append(part.data)

        result = scan_document(engine, doc.content, doc.filename or doc.external_id, limits,
                               on_part=keep, passwords=_Passwords(doc))
        for name, reason in result.skipped:
            log.warning("source %s item %s: skipped part %s: %s", doc.source, doc.external_id,
                        name, reason)
        hits = list(result.hits)
        return ScanOutcome(hits, b"\n".join(texts) if hits else None)

    return scan


class Pipeline:
    def __init__(self, store: Store, engine: EngineLike | None = None, *,
                 sinks: Sequence[SinkLike] = (), limits: Limits | None = None,
                 platform_sites: Mapping[str, str] | None = None,
                 scanner: DocumentScanner | None = None,
                 clock: Callable[[], datetime] = utcnow,
                 dedup_key: bytes | None = None) -> None:
        """`dedup_key` keys the content keys (see monitor.alerting.dedup); by default it is
        derived from the fingerprint key of the store's folder (the state directory)."""
        if scanner is None:
            if engine is None:
                raise ValueError("Pipeline needs an engine or a scanner")
            scanner = engine_scanner(engine, limits)
        self.store = store
        self.scanner = scanner
        self.clock = clock
        if dedup_key is None:
            if store.state_dir is None:
                raise ValueError("Pipeline needs a dedup_key, or a store opened with a state_dir")
            dedup_key = load_dedup_key(store.state_dir)
        self.dedup_key = dedup_key
        self.index = NearDuplicateIndex.from_store(store)
        self.tracker = IncidentTracker(store, sinks=sinks, index=self.index,
                                       platform_sites=platform_sites)

    @property
    def sinks(self) -> list[SinkLike]:
        return self.tracker.sinks

    @sinks.setter
    def sinks(self, sinks: Sequence[SinkLike]) -> None:
        """Swap sinks (e.g. after a config reload) without rebuilding the index."""
        self.tracker.sinks = list(sinks)

    def _scan(self, doc: Document, sha256: str) -> _Scanned:
        text = None
        try:
            out = self.scanner(doc)
            if isinstance(out, ScanOutcome):
                hits, text = out.hits, out.text
            else:
                hits = list(out)
            error = None
        except Exception as e:  # one bad document must not block the source forever
            log.error("source %s item %s: scan failed: %s: %s", doc.source, doc.external_id,
                      type(e).__name__, e)
            hits, error = [], f"{type(e).__name__}: {e}"[:500]
        return _Scanned(doc, sha256, hits, error, text)

    def process_batch(self, source: str, documents: Iterable[Document],
                      cursor: str | None, *,
                      guard: Callable[[Store], None] | None = None) -> BatchResult:
        """Record one collector batch and, in the same transaction, the source's new cursor.

        `source` is the source name the cursor belongs to; `cursor=None` leaves it unchanged.
        A document whose scan raised is recorded with `scan_error` (and counts as seen), so one
        hostile item cannot stall its source; any other exception rolls the whole batch back.
        `guard(store)` runs first inside that transaction (the worker still holds the source's
        lease, monitor/daemon/leases.py); raising there commits nothing.
        """
        result = BatchResult()
        now = self.clock()
        documents = list(documents)
        known = self._known(documents)
        todo: list[_Scanned] = []
        seen_in_batch: set[tuple[str, str, str]] = set()
        for doc in documents:
            sha = doc.sha256
            key = (doc.source, doc.external_id, sha)
            stored = known.get(key[:2])
            if key in seen_in_batch or (stored is not None and stored[0] == sha):
                result.skipped += 1
                continue
            seen_in_batch.add(key)
            todo.append(self._scan(doc, sha))
        fps = {id(s): fingerprint(s.text if s.text else s.doc.content, s.sha256,
                                  key=self.dedup_key)
               for s in todo if s.hits}
        links: dict[str, list[list[str]]] = {}
        with self.store.transaction():  # the near-duplicate index is in it too (no reload)
            if guard is not None:
                guard(self.store)
            self.tracker.lock((fps[id(s)], s.hits) for s in todo if s.hits)
            expire_snoozes(self.store, now)
            # read again under the write lock: what another writer stored since counts
            known = self._known([item.doc for item in todo]) if todo else {}
            pending: list[tuple] = []  # new documents without hits: saved in one statement
            for item in todo:
                self._record(item, fps.get(id(item)), known, now, result, pending)
                doc_links = item.doc.metadata.get("links") if item.doc.metadata else None
                if doc_links:
                    links.setdefault(item.doc.source, []).append(list(doc_links))
            self.store.save_documents(pending)
            for name, per_doc in links.items():
                self.store.add_suggested_links(name, per_doc, now=now)
            if cursor is not None:
                self.store.save_cursor(source, cursor)
        return result

    def _known(self, documents: list[Document]) -> dict[tuple[str, str], tuple[str, int | None]]:
        """(sha256, incident_id) of the batch's items already stored, by (source, external
        id): one lookup per batch (and source) instead of two queries per document; `_record`
        keeps it current as the batch is written."""
        by_source: dict[str, list[str]] = {}
        for doc in documents:
            by_source.setdefault(doc.source, []).append(doc.external_id)
        return {(name, ext): state for name, ids in by_source.items()
                for ext, state in self.store.document_states(name, ids).items()}

    def _record(self, item: _Scanned, fp: ContentFingerprint | None,
                known: dict[tuple[str, str], tuple[str, int | None]], now: datetime,
                result: BatchResult, pending: list[tuple]) -> None:
        """Write one document and what follows from its hits. A new document without hits
        needs no id: its row joins `pending` (saved by the caller); any other is saved now,
        after the pending rows, so the ids keep the batch's order."""
        store, doc = self.store, item.doc
        previous = known.get((doc.source, doc.external_id))
        result.documents += 1
        if item.error:
            result.errors += 1
        if not item.hits and previous is None:
            known[(doc.source, doc.external_id)] = (item.sha256, None)
            pending.append(store.document_row(doc, sha256=item.sha256, excerpt=None,
                                              scan_error=item.error, now=now))
            return
        store.save_documents(pending)
        pending.clear()
        previous_incident = previous[1] if previous is not None else None
        evidence_path = None
        if item.hits and store.evidence is not None:
            evidence_path = str(store.evidence.write(item.sha256, doc.content))
        excerpt = top_hit(item.hits).excerpt if item.hits else None
        doc_id = store.save_document(
            doc, sha256=item.sha256, excerpt=excerpt,
            content_key=fp.content_key if fp else None, evidence_path=evidence_path,
            scan_error=item.error, now=now)
        if previous is not None:
            result.updated += 1
        incident_id = None
        if item.hits:
            assert fp is not None  # every document with hits is fingerprinted (fps above)
            update = self.tracker.record(
                doc, doc_id, item.hits, fp, now=now,
                previous_incident=previous_incident, locked=True)
            incident_id = update.incident_id
            result.hits += len(item.hits)
            result.new_incidents += int(update.is_new)
            result.notifications += int(update.notification is not None)
            if incident_id not in result.incident_ids:
                result.incident_ids.append(incident_id)
        elif previous_incident is not None:
            incident_id = previous_incident  # an edit removed the hits: keep the link
        store.replace_hits(doc_id, item.hits, incident_id)
        store.set_document_incident(doc_id, incident_id)
        known[(doc.source, doc.external_id)] = (item.sha256, incident_id)
