"""Records that flow between pipeline stages: collectors -> matching -> store -> alerting."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SEVERITIES: tuple[str, ...] = ("info", "low", "medium", "high", "critical")


def severity_rank(severity: str) -> int:
    """Order of a severity name (info=0 .. critical=4); ValueError for an unknown name."""
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        raise ValueError(
            f"unknown severity {severity!r}; expected one of {', '.join(SEVERITIES)}"
        ) from None


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class Document:
    """One unit of content seen at a source: a message, a paste, a post, a file or attachment.

    `content` holds the raw bytes as fetched (decoding and archive extraction happen in
    matching); it is never written to the store unless evidence keeping is switched on.
    """

    source: str  # the configured source name ("scan" for the CLI)
    platform: str  # telegram | telegram_web | pastebin | github_gists | http | tor | files | scan
    external_id: str  # stable id within the source (message id, paste key, file path)
    content: bytes
    url: str | None = None
    title: str | None = None
    author: str | None = None
    filename: str | None = None  # for attachments and files: the file name
    posted_at: datetime | None = None
    fetched_at: datetime = field(default_factory=utcnow)
    parent_id: str | None = None  # attachments: external_id of the message or post carrying it
    edited_at: datetime | None = None  # set when the source says the item was edited
    forwarded_from: str | None = None  # telegram fwd_from, as a readable origin
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(slots=True, frozen=True)
class RecordMatch:
    """One of our fingerprinted records recognized in a document."""

    record_id: str
    fields: tuple[str, ...]  # kinds that matched, e.g. ("fr_nir", "last_name")
    confidence: float  # 0..1, rises with corroboration
    canary: bool = False


@dataclass(slots=True)
class Hit:
    """A rule that fired on a document."""

    rule_id: str
    title: str
    severity: str
    count: int
    excerpt: str  # already redacted: safe to store and to send
    tags: tuple[str, ...] = ()
    fingerprint_set: str | None = None
    records: list[RecordMatch] = field(default_factory=list)

    @property
    def canary(self) -> bool:
        return any(r.canary for r in self.records)

    def to_json(self) -> dict[str, Any]:
        """The `scan --json` hit object (DESIGN.md contract; extra keys allowed)."""
        out: dict[str, Any] = {
            "rule": self.rule_id,
            "severity": self.severity,
            "count": self.count,
            "excerpt": self.excerpt,
            "title": self.title,
            "tags": list(self.tags),
        }
        if self.fingerprint_set is not None:
            out["records"] = [r.record_id for r in self.records]
            out["record_details"] = [
                {"id": r.record_id, "fields": list(r.fields), "confidence": r.confidence,
                 "canary": r.canary}
                for r in self.records
            ]
            out["fingerprint_set"] = self.fingerprint_set
        return out
