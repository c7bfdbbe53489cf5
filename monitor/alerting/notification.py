"""What the incident stage hands to the outbox, and what a sink delivers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

# Events that create a notification. "operator" is a source-health alert (a source failing
# or silent), "test" comes from `leakmon sinks test`.
EVENTS = ("new", "escalated", "operator", "test")


def incident_link(incident_id: int, public_url: str = "") -> str:
    """How an analyst opens the incident: its console page when `[web] public_url` is set,
    else the CLI command."""
    if public_url:
        return f"{public_url.rstrip('/')}/incidents/{incident_id}"
    return f"leakmon alerts show {incident_id}"


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
