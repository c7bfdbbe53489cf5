"""Documents seen and the hits on them. Never the content itself: hashes, size, metadata and
a redacted excerpt (raw content only through the opt-in evidence store)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from monitor.models import Document, Hit, utcnow
from monitor.store._mixin import StoreMixin
from monitor.store._util import dumps, iso, loads


class DocumentsMixin(StoreMixin):
    def document_seen(self, source: str, external_id: str, sha256: str) -> bool:
        """True when this exact content was already recorded for this source item."""
        row = self._fetchone(
            "SELECT 1 FROM documents WHERE source = ? AND external_id = ? AND sha256 = ?",
            (source, external_id, sha256))
        return row is not None

    def get_document(self, source: str, external_id: str) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM documents WHERE source = ? AND external_id = ?",
                          (source, external_id))
        return rows[0] if rows else None

    def document_states(self, source: str,
                        external_ids: Iterable[str]) -> dict[str, tuple[str, int | None]]:
        """(sha256, incident_id) of the stored items among `external_ids`, by external id:
        one query per chunk of ids for a whole batch instead of two per document."""
        ids = list(dict.fromkeys(external_ids))
        out: dict[str, tuple[str, int | None]] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            rows = self._fetchall(
                "SELECT external_id, sha256, incident_id FROM documents WHERE source = ? AND "
                f"external_id IN ({','.join('?' * len(chunk))})", (source, *chunk))
            out.update((ext, (sha, incident)) for ext, sha, incident in rows)
        return out

    def get_document_by_id(self, document_id: int) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM documents WHERE id = ?", (document_id,))
        return rows[0] if rows else None

    def count_documents(self) -> int:
        row = self._fetchone("SELECT COUNT(*) FROM documents")
        return row[0] if row else 0

    def save_document(self, doc: Document, *, sha256: str, excerpt: str | None,
                      content_key: str | None = None, evidence_path: str | None = None,
                      scan_error: str | None = None, now: datetime | None = None) -> int:
        """Insert the document, or update it in place when the source item was edited."""
        row = self.document_row(doc, sha256=sha256, excerpt=excerpt, content_key=content_key,
                                evidence_path=evidence_path, scan_error=scan_error, now=now)
        with self.transaction():
            return self.db.execute(_SAVE_DOCUMENT + " RETURNING id", row).fetchone()[0]

    def save_documents(self, rows: list[tuple]) -> None:
        """`save_document` for many documents whose ids nobody needs (new documents without
        hits, the common case): one statement, rows made by `document_row`, in list order, so
        the ids are the ones one `save_document` per row would have given."""
        if rows:
            with self.transaction():
                self._executemany(_SAVE_DOCUMENT, rows)

    @staticmethod
    def document_row(doc: Document, *, sha256: str, excerpt: str | None,
                     content_key: str | None = None, evidence_path: str | None = None,
                     scan_error: str | None = None, now: datetime | None = None) -> tuple:
        """The parameters of one `save_documents` row (same arguments as `save_document`)."""
        return (doc.platform, doc.url, doc.author, doc.title, doc.filename, iso(doc.posted_at),
                iso(doc.fetched_at), iso(doc.edited_at), sha256, doc.size, excerpt,
                doc.parent_id, doc.forwarded_from, content_key, evidence_path, scan_error,
                iso(now or utcnow()), doc.source, doc.external_id)

    def set_document_incident(self, document_id: int, incident_id: int | None) -> None:
        with self.transaction():
            self.db.execute("UPDATE documents SET incident_id = ? WHERE id = ?",
                            (incident_id, document_id))

    def replace_hits(self, document_id: int, hits: Iterable[Hit],
                     incident_id: int | None) -> int:
        """Replace the document's hits (an edited message's old hits go); returns how many."""
        n = 0
        with self.transaction():
            self.db.execute("DELETE FROM hits WHERE document_id = ?", (document_id,))
            for h in hits:
                self.db.execute(
                    "INSERT INTO hits (document_id, incident_id, rule_id, title, severity, count, "
                    "excerpt, tags, fingerprint_set, record_ids, canary) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (document_id, incident_id, h.rule_id, h.title, h.severity, h.count,
                     h.excerpt, dumps(list(h.tags)), h.fingerprint_set,
                     dumps([r.record_id for r in h.records]), int(h.canary)))
                n += 1
        return n

    def hits_for(self, *, document_id: int | None = None,
                 incident_id: int | None = None) -> list[dict[str, Any]]:
        col, value = ("document_id", document_id) if document_id is not None else (
            "incident_id", incident_id)
        rows = self.query(f"SELECT * FROM hits WHERE {col} = ? ORDER BY id", (value,))
        for r in rows:
            r["record_ids"] = loads(r["record_ids"], [])
            r["tags"] = loads(r["tags"], [])
        return rows


_SAVE_DOCUMENT = (
    "INSERT INTO documents (platform, url, author, title, filename, posted_at, "
    "fetched_at, edited_at, sha256, size, excerpt, parent, forwarded_from, "
    "content_key, evidence_path, scan_error, updated_at, source, external_id) "
    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
    "ON CONFLICT(source, external_id) DO UPDATE SET platform = excluded.platform, "
    "url = excluded.url, author = excluded.author, title = excluded.title, "
    "filename = excluded.filename, posted_at = excluded.posted_at, "
    "fetched_at = excluded.fetched_at, edited_at = excluded.edited_at, "
    "sha256 = excluded.sha256, size = excluded.size, excerpt = excluded.excerpt, "
    "parent = excluded.parent, forwarded_from = excluded.forwarded_from, "
    "content_key = excluded.content_key, evidence_path = excluded.evidence_path, "
    "scan_error = excluded.scan_error, updated_at = excluded.updated_at, "
    "versions = documents.versions + 1")
