"""Records that flow between pipeline stages: collectors -> matching -> store -> alerting.

The bottom layer: every stage may import this module and it imports none of them, so a
record one stage writes and another reads (a `Notification` the incident stage queues and
the store keeps, an `OutboxItem` the store hands to delivery) is defined here once.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, overload

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


@overload
def iso(dt: datetime) -> str: ...
@overload
def iso(dt: None) -> None: ...
@overload
def iso(dt: datetime | None) -> str | None: ...


def iso(dt: datetime | None) -> str | None:
    """UTC ISO 8601 text with a fixed shape, so that text order is time order in SQL."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


@overload
def parse_iso(value: str) -> datetime: ...
@overload
def parse_iso(value: None) -> None: ...
@overload
def parse_iso(value: str | None) -> datetime | None: ...


def parse_iso(value: str | None) -> datetime | None:
    """The datetime of `iso()` text (naive text is taken as UTC); None stays None."""
    if value is None:
        return None
    dt = datetime.fromisoformat(value)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


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


# Events that create a notification. "operator" is a source-health alert (a source failing
# or silent), "test" comes from `leakmon sinks test`.
EVENTS = ("new", "escalated", "operator", "test")


@dataclass(slots=True)
class Notification:
    """One alert event about one incident, as stored (JSON) in the outbox and sent to sinks.

    Never holds plaintext record values: `record_ids` are ids from the imported CSV and
    `excerpt` is already redacted.
    """

    idempotency_key: str  # stable per (incident, event): a resend after a crash reuses it
    event: str  # one of EVENTS
    reason: str  # why this was sent: "new incident", "severity rose to critical", ...
    incident_id: int | None
    dedup_key: str
    title: str
    severity: str
    confidence: float
    rule_id: str
    rule_title: str
    created_at: str  # ISO 8601 UTC
    tags: list[str] = field(default_factory=list)
    platform: str | None = None
    source: str | None = None
    url: str | None = None
    first_seen: str | None = None  # ISO 8601 UTC
    last_seen: str | None = None
    sightings: int = 1
    sites: list[str] = field(default_factory=list)  # distinct platforms/sites seen on
    record_count: int = 0
    record_ids: list[str] = field(default_factory=list)  # capped list; never values
    canary: bool = False
    excerpt: str = ""
    link: str = ""  # how an analyst opens it: "leakmon alerts show 12"
    # The incident's page in the web console (its public_url), when one is configured: mail
    # and chat bodies show it as a link; the console sets it through one hook.
    console_url: str | None = None
    # SHA-256 of the document this event is about (a hash, not content): MISP and STIX
    # consumers correlate on it.
    document_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Notification:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(slots=True)
class OutboxItem:
    """One pending delivery of one notification to one sink."""

    id: int
    sink: str
    notification: Notification
    attempts: int
    next_attempt_at: datetime
    created_at: datetime


CheckStatus = Literal["OK", "WARN", "FAIL"]


@dataclass(slots=True, frozen=True)
class Check:
    """One finding of `leakmon doctor`: what a component (a sink, a kind of source, the
    state directory...) says about its own setup, with a one-line fix when it is not OK."""

    status: CheckStatus
    what: str  # "sink soc", "telegram session", ...
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status:<4} {self.what}: {self.detail}"
        return text + (f"\n     fix: {self.fix}" if self.fix and self.status != "OK" else "")
