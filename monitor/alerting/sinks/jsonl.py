"""`type = "jsonl"`: one JSON object per alert event, appended to a file a SIEM agent
(Filebeat, Elastic Agent, Vector, Fluent Bit) ships, with Elastic Common Schema field names.

Objects are nested the ECS way (`{"event": {"kind": "alert"}}` is `event.kind`). Each write
is flushed and fsync'ed before `send` returns, so "sent" means "on disk". The file is created
0600 (excerpts are redacted, but the file still says what leaked where).
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any, Unpack

from monitor import __version__
from monitor.alerting.sinks import format as fmt
from monitor.alerting.sinks.base import CommonOptions, Sink, SinkOptions, TableReader
from monitor.config import Config
from monitor.errors import SinkError
from monitor.models import Check, Notification

FEED_NAME = "leakmon"


def stix_confidence(confidence: float) -> str:
    """ECS `threat.indicator.confidence`: the None/Low/Medium/High scale of STIX 2.1
    Appendix A (0 None, 1-29 Low, 30-69 Medium, 70-100 High) for our 0-1 confidence."""
    score = round(confidence * 100)
    if score <= 0:
        return "None"
    return "Low" if score < 30 else "Medium" if score < 70 else "High"


def risk_score(n: Notification) -> float:
    """ECS `event.risk_score`, 0-100: how much risk the alert carries, not how sure we are.
    The severity's risk on Elastic's detection-rule scale (21/47/73/99); a planted canary
    record found is certain exposure (99)."""
    return float(99 if n.canary else fmt.severity_value(fmt.ECS_SEVERITY, n.severity))


def ecs_document(n: Notification) -> dict[str, Any]:
    """The ECS-shaped record of one alert event."""
    # The provider of the indicator is leakmon (the feed), not the site it was seen on: the
    # site is leakmon.platform / leakmon.sites.
    indicator: dict[str, Any] = {"sightings": n.sightings, "provider": FEED_NAME,
                                 "confidence": stix_confidence(n.confidence)}
    if n.first_seen:
        indicator["first_seen"] = n.first_seen
    if n.last_seen:
        indicator["last_seen"] = n.last_seen
    if n.url:
        indicator["type"] = "url"
        indicator["url"] = {"full": n.url}
    if n.console_url:
        indicator["reference"] = n.console_url  # "more information about this indicator"
    doc: dict[str, Any] = {
        "@timestamp": n.created_at,
        "message": fmt.summary(n),
        "ecs": {"version": "8.11.0"},
        "event": {
            "kind": "alert",
            "category": ["threat"],
            "type": ["indicator"],
            "action": n.event,
            "reason": n.reason,
            "severity": fmt.severity_value(fmt.ECS_SEVERITY, n.severity),
            "risk_score": risk_score(n),
            "id": n.idempotency_key,
            "dataset": "leakmon.alert",
            "module": "leakmon",
            "created": n.created_at,
        },
        "rule": {"id": n.rule_id, "name": n.rule_title or n.title},
        "threat": {"indicator": indicator, "feed": {"name": FEED_NAME}},
        "labels": {"dedup_key": n.dedup_key, "severity": n.severity,
                   "canary": "true" if n.canary else "false"},
        "tags": list(n.tags),
        "observer": {"vendor": "leakmon", "product": "leakmon", "version": __version__,
                     "hostname": socket.gethostname()},
        "leakmon": {
            "incident_id": n.incident_id,
            "title": n.title,
            "severity": n.severity,
            "confidence": n.confidence,
            "platform": n.platform,
            "source": n.source,
            "sites": list(n.sites),
            "record_count": n.record_count,
            "record_ids": list(n.record_ids),
            "canary": n.canary,
            "excerpt": n.excerpt,
            "link": n.link,
            "console_url": n.console_url,
        },
    }
    if n.url:
        doc["url"] = {"full": n.url}
    return doc


class JsonlSink(Sink):
    kind = "jsonl"
    keys = ("path",)

    def __init__(self, name: str, *, path: Path, **common: Unpack[SinkOptions]) -> None:
        super().__init__(name, **common)
        self.path = path

    @classmethod
    def from_table(cls, table: TableReader, config: Config, common: CommonOptions) -> Sink:
        return cls(path=config.resolve(table.string("path", required=True) or ""), **common)

    def describe(self) -> str:
        return str(self.path)

    def check(self) -> Check:
        """The file's folder (or, before the first alert creates it, its parent) is
        writable."""
        parent = self.path.parent
        probe = parent if parent.exists() else parent.parent
        if not os.access(probe, os.W_OK | os.X_OK):
            return Check("FAIL", f"sink {self.name}", f"jsonl: {parent} is not writable",
                         f"fix permissions of {parent}")
        return Check("OK", f"sink {self.name}", f"jsonl: {self.path}")

    def send(self, n: Notification) -> str:
        return self._append([n])

    def send_digest(self, notifications: list[Notification]) -> str:
        # A SIEM wants one record per event; "digest" here only batches the writes.
        return self._append(notifications)

    def _append(self, notifications: list[Notification]) -> str:
        data = b"".join(
            json.dumps(ecs_document(n), ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
            for n in notifications
        )
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as e:
            raise SinkError(f"sink {self.name!r}: cannot open {self.path}: {e.strerror}") from None
        try:
            os.fchmod(fd, 0o600)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        except OSError as e:
            raise SinkError(f"sink {self.name!r}: cannot write {self.path}: {e.strerror}") from None
        finally:
            os.close(fd)
        return f"appended {len(notifications)} line(s) to {self.path}"
